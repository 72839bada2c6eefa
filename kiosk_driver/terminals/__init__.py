"""Payment terminal adapters beyond the simulator (see :mod:`kiosk_driver.terminal`)."""
