# The Pechat image: the web app (gunicorn), the indexer and the CLI share it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DMS_DATA_DIR=/data
# Cyrillic fonts for generated PDFs, poppler (text extraction, pdfsig), Tesseract for scans.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core poppler-utils libnss3-tools \
      tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
# Exactly the locked versions (hashes checked), then the project without dependencies.
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY dms ./dms
COPY storage ./storage
COPY signing ./signing
COPY search ./search
COPY templates ./templates
RUN pip install --no-cache-dir --no-deps -e . \
 && useradd --system --uid 10001 --home /data pechat \
 && mkdir -p /data && chown pechat /data
USER pechat
VOLUME ["/data"]
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "120", "--access-logfile", "-", "--logger-class", "dms.accesslog.RedactingLogger", "dms.wsgi:app"]
