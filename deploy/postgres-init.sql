-- Aegis's own catalog database (backup catalog, metrics, incidents), beside Airflow's metadata DB.
CREATE USER aegis WITH PASSWORD 'aegis';
CREATE DATABASE aegis OWNER aegis;
