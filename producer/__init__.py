"""Intake: S3 prefixes, folders and CSV manifests, watched inboxes (nightly scans, S3 events)
become batches of jobs in SQL, handed to the worker core's dispatch."""
