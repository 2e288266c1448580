//! A behavioural test suite every storage backend runs against itself, so the server can rely
//! on the same semantics whichever backend is configured.
//!
//! Each check uses its own hub names, so checks can run in any order against one store. A
//! failing check panics with a message saying which promise was broken: this is test code.
//! The concurrency check spawns tokio tasks, so run the suite on a multi-thread runtime.

mod c2d;
mod ca_certificates;
mod catalog;
mod etag;
mod feedback;
mod fixtures;
mod registry;
mod sessions;
mod twins;

use std::sync::Arc;

use crate::traits::Store;

pub use c2d::{
    a_full_queue_refuses_more_without_affecting_others, c2d_queues_are_fifo_and_round_trip,
    enqueueing_for_a_missing_device_is_not_found,
};
pub use ca_certificates::{
    ca_certificate_record, ca_certificates_round_trip_with_etags, hub_settings_update_and_persist,
    missing_ca_certificates_and_hubs_are_not_found, two_hubs_keep_separate_ca_certificates,
};
pub use catalog::{
    a_policy_for_an_unknown_hub_is_not_found, hostnames_are_unique_across_hubs,
    hubs_and_policies_round_trip,
};
pub use etag::{
    concurrent_updates_with_the_same_etag_have_exactly_one_winner, delete_respects_the_etag,
    update_respects_the_etag,
};
pub use feedback::{
    an_expired_feedback_lock_lets_another_receive_take_the_records,
    completing_after_the_lock_expired_is_refused, feedback_lock_complete_and_abandon,
    lock_feedback_respects_max,
};
pub use fixtures::{
    c2d_message, device_record, feedback_record, hub_name, module_record, twin_record,
};
pub use registry::{
    counts_split_devices_by_status, create_get_update_delete_round_trip,
    creating_an_existing_identity_conflicts, deleting_a_device_removes_its_modules_and_sessions,
    devices_are_listed_in_id_order_and_page_after_a_cursor, missing_identities_are_not_found,
    modules_require_their_device, self_signed_thumbprints_of_every_hub_are_listed,
    two_hubs_keep_separate_registries,
};
pub use sessions::sessions_upsert_and_delete;
pub use twins::{
    a_twin_of_an_unregistered_identity_is_not_found,
    concurrent_twin_writes_with_the_same_version_have_exactly_one_winner,
    deleting_an_identity_deletes_its_twins_and_queue, twins_are_listed_in_device_then_module_order,
    twins_insert_get_and_compare_and_swap,
};

/// Runs every check in this module.
pub async fn run_all(store: Arc<dyn Store>) {
    let store = &*store;
    create_get_update_delete_round_trip(store).await;
    creating_an_existing_identity_conflicts(store).await;
    missing_identities_are_not_found(store).await;
    modules_require_their_device(store).await;
    deleting_a_device_removes_its_modules_and_sessions(store).await;
    devices_are_listed_in_id_order_and_page_after_a_cursor(store).await;
    counts_split_devices_by_status(store).await;
    two_hubs_keep_separate_registries(store).await;
    self_signed_thumbprints_of_every_hub_are_listed(store).await;
    update_respects_the_etag(store).await;
    delete_respects_the_etag(store).await;
    concurrent_updates_with_the_same_etag_have_exactly_one_winner(store).await;
    sessions_upsert_and_delete(store).await;
    hubs_and_policies_round_trip(store).await;
    hostnames_are_unique_across_hubs(store).await;
    a_policy_for_an_unknown_hub_is_not_found(store).await;
    hub_settings_update_and_persist(store).await;
    ca_certificates_round_trip_with_etags(store).await;
    missing_ca_certificates_and_hubs_are_not_found(store).await;
    two_hubs_keep_separate_ca_certificates(store).await;
    twins_insert_get_and_compare_and_swap(store).await;
    twins_are_listed_in_device_then_module_order(store).await;
    concurrent_twin_writes_with_the_same_version_have_exactly_one_winner(store).await;
    a_twin_of_an_unregistered_identity_is_not_found(store).await;
    deleting_an_identity_deletes_its_twins_and_queue(store).await;
    c2d_queues_are_fifo_and_round_trip(store).await;
    a_full_queue_refuses_more_without_affecting_others(store).await;
    enqueueing_for_a_missing_device_is_not_found(store).await;
    feedback_lock_complete_and_abandon(store).await;
    an_expired_feedback_lock_lets_another_receive_take_the_records(store).await;
    completing_after_the_lock_expired_is_refused(store).await;
    lock_feedback_respects_max(store).await;
}
