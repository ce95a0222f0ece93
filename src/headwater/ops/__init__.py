"""Operations: health, heartbeats of long-running components, metrics, alerts, maintenance."""
