"""Private instances of real servers for the tests (Prometheus, Alertmanager, a tiny exporter).

Each starts on a free port with its own data folder, so engineers running tests at the same
time never share one, and is stopped (its process, by id) when the test or session ends.
"""
