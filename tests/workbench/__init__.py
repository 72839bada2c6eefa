"""Tests of the workbench and the notebooks over exports written by the real core."""
