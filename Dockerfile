# Shoebox in one image: the same image serves one instance or many behind a load balancer.
#   docker build -t shoebox .
#   docker run -d -p 8080:8080 -v shoebox-data:/data shoebox
# Configure with SHOEBOX_* environment variables (see config.example.toml) or mount a file
# and set SHOEBOX_CONFIG=/data/config.toml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid so that bind-mounted data folders can be given to it: chown 1000:1000.
RUN groupadd --system --gid 1000 shoebox \
 && useradd --system --uid 1000 --gid shoebox --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin shoebox

WORKDIR /app

# Dependencies before the code, so that a code change reuses this layer.
COPY requirements/app.lock requirements/app.lock
RUN pip install --no-cache-dir -r requirements/app.lock

# webapp/ templates/ static/ migrations/ translations/ babel.cfg; .dockerignore keeps the rest out.
COPY . .

# Code stays owned by root (read-only to the app); only /data is the app's to write.
RUN if [ -d translations ]; then pybabel compile -f -d translations; fi \
 && mkdir -p /data \
 && chown shoebox:shoebox /data

ENV SHOEBOX_DATA_DIR=/data
VOLUME /data
USER shoebox
EXPOSE 8080

# slim has no curl; urlopen raises on errors and on non-2xx answers, which fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# Applies pending migrations, then serves with waitress; SIGTERM (docker stop) shuts down cleanly.
CMD ["python", "-m", "webapp", "serve"]
