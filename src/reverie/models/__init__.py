"""Learned transition models M = {T_a(s, s'), R_a(s, s')}."""
