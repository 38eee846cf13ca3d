"""Send-side bandwidth estimation for subscriber transports (GCC: delay gradient + loss + probing).

``estimator.BandwidthEstimator`` ties the pieces together; docs/quality.md explains the
algorithm and its constants. Pure: no I/O, no clock.
"""
