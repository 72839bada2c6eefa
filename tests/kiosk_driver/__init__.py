"""Tests of the kiosk driver: its sale, journal, printing, terminals and touch UI, and its
contract with the real core app."""
