"""Intake: S3 listings, CSV manifests, S3 events and nightly scans become batches of jobs.

Arrives with the job pipeline (issue #3) and nightly intake (issue #5).
"""
