"""OpenTelemetry tracing: always on in-process (for trace ids), exported only when configured."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared_runtime.logging import configure_logging
from shared_runtime.settings import ServiceSettings

_configured = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install the tracer provider once per process; OTLP export only with an endpoint."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


def configure_observability(service: str, settings: ServiceSettings) -> None:
    """JSON logs and tracing for a service's process, from its settings; called once, in main.
    `OTEL_SERVICE_NAME` overrides the name traces carry."""
    configure_logging(service, settings.log_level)
    configure_tracing(settings.otel_service_name or service, settings.otel_exporter_otlp_endpoint)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, to carry across NATS."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from(headers: Mapping[str, str] | None) -> Context:
    """The trace context a message carried, so consuming continues the producer's trace."""
    return propagate.extract({k.lower(): v for k, v in (headers or {}).items()})


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()
