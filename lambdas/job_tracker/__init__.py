"""Domain logic shared by the tracker's Lambdas: job polling, `.out` parsing and failure recording.

The package holds no AWS clients of its own: adapters in `job_tracker.adapters` wrap them, and handlers
inject those adapters, so the logic here is tested without the network.
"""
