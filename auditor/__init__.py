"""auditor: finds the documented red flags in the marketing of stem cell and regenerative clinics."""
__version__ = "0.1.0"
