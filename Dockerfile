# The studentflow pipeline app (used by docker-compose.yml for `studentflow run` and for the
# one-shot connector apply). Kafka and Kafka Connect run in their own containers (apache/kafka).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPARK_LOCAL_IP=127.0.0.1 \
    MPLBACKEND=Agg \
    STUDENTFLOW_HOME=/app

# Java 17 for PySpark; the SQLite JDBC driver (/usr/share/java/sqlite-jdbc.jar) for Spark's
# warehouse writes; procps for PySpark's launcher scripts. The man1 folder works around the
# JRE postinst on slim images, which have no man pages.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      openjdk-17-jre-headless libxerial-sqlite-jdbc-java procps \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so a code change does not reinstall them: the exact versions and sha256 of
# the lock files setup uses too (pip, then requirements.lock, whose test extra comes along).
COPY requirements.lock ./
COPY scripts/pip.lock scripts/
RUN pip install --require-hashes -r scripts/pip.lock \
 && pip install --require-hashes -r requirements.lock

# The project. Installed editable on purpose: stages read files next to their code
# (connect/connectors/*.json, spark_jobs/warehouse.sql, dbt_project/, expectations/), which a
# plain wheel install would leave behind.
COPY . .
RUN pip install --no-deps -e . \
 && chmod +x docker/apply-connectors.sh

CMD ["studentflow", "run"]
