"""The OCI Distribution (Docker Registry v2) protocol: images as OWNER/REPOSITORY/IMAGE on docker.HOSTNAME."""
