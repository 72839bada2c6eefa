"""Version 1 of the JSON APIs (``/api/v1/...``): request and response shapes."""
