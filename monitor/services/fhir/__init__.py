"""The read-only FHIR R4 API's resources: what the store holds, in FHIR's words (issue 16)."""
