//! Notification delivery.
