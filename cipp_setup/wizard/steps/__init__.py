"""The wizard's steps, one module each (`wizard/flow.py` runs them in order)."""
