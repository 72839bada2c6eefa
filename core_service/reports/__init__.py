"""Reports computed from the OLTP tables: the reference figures the workbench must match."""
