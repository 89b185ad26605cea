"""The Edit Factory web frontend's API: its contract (shared/reference/frontend-contract.md, the
Next.js frontend of 2026-01-05), served exactly at /api/frontend/v1 as a thin layer over the same
services as /api/v1: request shapes are mapped to the services' parameters, answers to the shapes
the frontend reads. No feature is implemented twice.

Every route is an old path (core.deprecation): deprecated in the OpenAPI document with its
successor in /api/v1, answered with Deprecation and Link headers, and counted.
"""
