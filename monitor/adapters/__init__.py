"""Adapters: outside formats (HL7 v2, FHIR R4 JSON, CSV, MLLP) turned into service calls.

They read and translate, nothing more: validation, storage and the quarantine are the import
use case's (`monitor.services.results.imports`).
"""
