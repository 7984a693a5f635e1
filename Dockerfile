# Ticketfrei in one container: supervisor, censor, web UI, bots and the SMTP service.
#   docker build -t ticketfrei .
#   docker run -d -p 8080:8080 -p 2525:2525 -v ticketfrei-data:/data ticketfrei
FROM debian:trixie-slim

# Debian's Python 3.13 (trixie's: a bot takes about 2 MiB less than with bookworm's 3.11);
# tini is PID 1: it forwards `docker stop`'s SIGTERM and reaps orphans.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /app --shell /usr/sbin/nologin ticketfrei \
 && install -d -m 0700 -o ticketfrei -g ticketfrei /data

WORKDIR /app
# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --upgrade pip \
 && /venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY *.py ./
COPY bots ./bots
COPY templates ./templates
COPY static ./static
# Editable, so that templates/ and static/ are found beside the modules.
RUN /venv/bin/pip install --no-cache-dir --no-deps -e . \
 && /venv/bin/python -m compileall -q /app

# Everything is configured by environment variables (a mounted TOML file named by
# TICKETFREI_CONFIG works too); inside the container both servers listen on all interfaces.
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TICKETFREI_INSTANCE_DATA_DIR=/data \
    TICKETFREI_WEB_HOST=0.0.0.0 \
    TICKETFREI_WEB_PORT=8080 \
    TICKETFREI_BOTS_MAIL_LISTEN_HOST=0.0.0.0 \
    TICKETFREI_BOTS_MAIL_LISTEN_PORT=2525

VOLUME /data
EXPOSE 8080 2525
USER ticketfrei
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TICKETFREI_WEB_PORT', '8080'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/venv/bin/ticketfrei"]
CMD ["run"]
