"""The platform's billing of facilities (F26): plans and monthly system-fee statements."""
