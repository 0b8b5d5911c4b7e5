# Aegis image for the distributed deployment (docker-compose.yaml): the official Airflow image
# plus this project's pinned requirements. The MySQL provider's client library is already in it.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt
ENV PYTHONPATH=/opt/airflow
