"""Test double of kytos-ng core (see tests/kytos_double/README.md)."""
