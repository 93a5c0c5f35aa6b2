"""The floor of pincus: errors, the reverter, failpoints, Go time and size formats, TLS primitives.

Nothing here imports any other part of pincus; every layer may import it.
"""
