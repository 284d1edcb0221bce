"""Model-free updates that algorithms apply to real or imagined data."""
