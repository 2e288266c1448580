//! What the hub sends a connected device: cloud-to-device messages (QoS 1, tracked until
//! the PUBACK), method requests, desired patches and twin responses (QoS 0), each only to a
//! device subscribed to the matching topic.

use std::collections::HashSet;

use bytes::Bytes;
use ferrohub_mqtt::{Packet, Publish, QoS};

use super::{DeviceSession, HubRequest, State};
use crate::topic::{RequestId, Subscription};

impl DeviceSession {
    /// How many more cloud-to-device messages the connection may take now: zero unless
    /// connected and subscribed to `devices/{id}/messages/devicebound/#`.
    pub fn c2d_capacity(&self) -> usize {
        match &self.state {
            State::Connected(c) if c.subscriptions.contains(&Subscription::CloudToDevice) => self
                .config
                .max_inflight_c2d
                .saturating_sub(self.c2d_in_flight.len()),
            _ => 0,
        }
    }

    /// Lock tokens of the deliveries awaiting PUBACK (so the hub does not hand them out twice).
    pub fn c2d_in_flight(&self) -> HashSet<String> {
        self.c2d_in_flight.values().cloned().collect()
    }

    /// Publishes one cloud-to-device message at QoS 1. `redelivery` sets DUP.
    pub fn deliver_c2d(
        &mut self,
        lock_token: String,
        topic: String,
        body: Bytes,
        redelivery: bool,
    ) {
        if self.c2d_capacity() == 0 {
            return;
        }
        let Some(packet_id) = self.allocate_packet_id() else {
            return;
        };
        self.c2d_in_flight.insert(packet_id, lock_token);
        self.transmit.push_back(Packet::Publish(Publish {
            dup: redelivery,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic,
            packet_id: Some(packet_id),
            payload: body,
        }));
    }

    fn allocate_packet_id(&mut self) -> Option<u16> {
        // At most `max_inflight_c2d` ids are in use, so a free one is found quickly.
        for _ in 0..=u16::MAX {
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.c2d_in_flight.contains_key(&self.next_packet_id) {
                return Some(self.next_packet_id);
            }
        }
        None
    }

    pub(super) fn handle_puback(&mut self, packet_id: u16) {
        // A PUBACK for nothing we sent is harmless and ignored.
        if let Some(lock_token) = self.c2d_in_flight.remove(&packet_id) {
            self.requests
                .push_back(HubRequest::CloudToDeviceCompleted { lock_token });
        }
    }

    pub(super) fn publish_if_subscribed(
        &mut self,
        subscription: Subscription,
        topic: String,
        payload: Bytes,
    ) {
        let State::Connected(c) = &self.state else {
            return;
        };
        if !c.subscriptions.contains(&subscription) {
            return;
        }
        self.transmit.push_back(Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            payload,
        }));
    }

    /// Answers a twin request on `$iothub/twin/res/{status}/?$rid={rid}[&$version=N]`, at
    /// QoS 0 as IoT Hub does, if the device subscribed to twin responses.
    pub fn send_twin_response(
        &mut self,
        request_id: &RequestId,
        status: u16,
        version: Option<u64>,
        body: Bytes,
    ) {
        let State::Connected(c) = &self.state else {
            return;
        };
        if !c.subscriptions.contains(&Subscription::TwinResponses) {
            return;
        }
        let mut topic = format!(
            "$iothub/twin/res/{status}/?$rid={}",
            crate::sas::encode_component(request_id.as_str())
        );
        if let Some(v) = version {
            topic.push_str(&format!("&$version={v}"));
        }
        self.transmit.push_back(Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            payload: body,
        }));
    }
}
