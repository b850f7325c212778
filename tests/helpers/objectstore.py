"""A local S3-compatible server for the object-storage tests: moto's server mode on a loopback port,
with one bucket, and the standard AWS variables pointing boto3 (in this process and in the worker and
web processes it starts) at it."""
from __future__ import annotations

import logging

import boto3
import httpx
from moto.server import ThreadedMotoServer

from tests.helpers.jobs import free_port

BUCKET = "dsr-bundles"
REGION = "eu-north-1"


def start_s3_server(monkeypatch) -> tuple[ThreadedMotoServer, str]:
    """The running server and its endpoint URL; the caller stops it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per S3 request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{port}"
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()  # moto keeps its buckets per process
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return server, endpoint


def s3_config(endpoint: str, prefix: str = "portal") -> dict:
    """The app configuration that puts the export files in the server's bucket."""
    return {"STORAGE_URL": f"s3://{BUCKET}/{prefix}", "S3_ENDPOINT_URL": endpoint, "S3_REGION": REGION}
