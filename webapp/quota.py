"""Plans and their limits. A limit of 0 means unlimited."""

from __future__ import annotations

MiB = 1024 * 1024
GiB = 1024 * MiB

SEEDED_PLANS = {
    "free": dict(max_upload_bytes=25 * MiB, uploads_per_day=200, transforms_per_day=20,
                 storage_bytes=5 * GiB, api_requests_per_hour=1000),
    "pro": dict(max_upload_bytes=100 * MiB, uploads_per_day=2000, transforms_per_day=200,
                storage_bytes=100 * GiB, api_requests_per_hour=10000),
    "unlimited": dict(max_upload_bytes=0, uploads_per_day=0, transforms_per_day=0,
                      storage_bytes=0, api_requests_per_hour=0),
}
