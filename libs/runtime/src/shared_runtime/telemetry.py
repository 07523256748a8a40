"""Tracing: W3C trace context always (ids in logs, carried across HTTP and NATS); spans recorded
and exported only when an OTLP endpoint is configured.

Without an endpoint nobody looks at spans, so none are made: a request continues the caller's
trace context (or starts one) as a non-recording span, which costs a few microseconds where the
SDK's spans cost a tenth of a small request, and the SDK is not even imported.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context

from shared_runtime.imports import skip_unused_tracing_imports
from shared_runtime.logging import configure_logging
from shared_runtime.settings import ServiceSettings

_FLAGS = (trace.TraceFlags(0), trace.TraceFlags(trace.TraceFlags.SAMPLED))
"""Not sampled, sampled: the only flags a continued context keeps."""
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    """With an endpoint, install the SDK's tracer provider exporting over OTLP (once per process);
    without one, keep the API's no-op provider: spans are skipped, trace context still flows."""
    if not otlp_endpoint:
        skip_unused_tracing_imports()
        return
    if is_recording():
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)


def is_recording() -> bool:
    """True once a real (SDK) tracer provider is installed, i.e. spans are made and exported."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def configure_observability(service: str, settings: ServiceSettings) -> None:
    """JSON logs and tracing for a service's process, from its settings; called once, in main.
    `OTEL_SERVICE_NAME` overrides the name traces carry."""
    configure_logging(service, settings.log_level)
    configure_tracing(settings.otel_service_name or service, settings.otel_exporter_otlp_endpoint)


def continued_or_new(traceparent: str | None) -> Context:
    """A context holding the caller's trace (from a W3C `traceparent`) or a fresh one, as a
    non-recording span: what logs and outgoing messages read when spans are not recorded.
    The caller's span id is kept, so a recorded trace stays connected across this service."""
    match = _TRACEPARENT.match(traceparent) if traceparent else None
    trace_id, span_id = (int(match.group(1), 16), int(match.group(2), 16)) if match else (0, 0)
    if trace_id and span_id:
        flags = _FLAGS[int(match.group(3), 16) & 1]  # type: ignore[union-attr]
    else:
        trace_id, span_id = random.getrandbits(128) or 1, random.getrandbits(64) or 1
        flags = _FLAGS[trace.TraceFlags.DEFAULT]
    span_context = trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, to carry across NATS: what the tracecontext
    propagator writes, formatted directly (the global propagator costs a tenth of a create)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{span_context.trace_flags:02x}"
    )


def context_from(headers: Mapping[str, str] | None) -> Context:
    """The trace context a message carried, so consuming continues the producer's trace; when
    spans are not recorded and the message carried none, a fresh trace id for the logs."""
    carrier = {k.lower(): v for k, v in (headers or {}).items()}
    if is_recording():
        return propagate.extract(carrier)
    return continued_or_new(carrier.get("traceparent"))


def shutdown_tracing() -> None:
    """Flush spans not yet exported (a no-op when none are recorded)."""
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush()
