"""The recurrence as a scan over time (relu, identity): ``reference.py``, ``cpu.py``, ``cuda.py``."""
