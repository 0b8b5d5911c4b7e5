"""Aegis maintenance logic: plain, importable Python, usable without Airflow."""
