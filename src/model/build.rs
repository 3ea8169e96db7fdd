//! Building a [`World`] from a validated scenario: ids, names, replica
//! placement, rng streams and the first kernel events.

use super::backoff::RetryBackoff;
use super::buffer::BufferPool;
use super::dist::{KeySampler, Sampler};
use super::faults::concrete_plan;
use super::group::EmitRt;
use super::keymap::KeyMap;
use super::network::{Network, Node};
use super::partitioner::PartitionChooser;
use super::producer::{ArrivalRt, NewRecord, ProdPart};
use super::release::RELEASE_MIN;
use super::txn::TxnRt;
use super::variates;
use super::{
    BrokerRt, ConsumerRt, Ev, GroupRt, NodeState, PartitionRt, ProducerRt, TICK_NS, World,
};
use crate::history::{Catalog, KeySpace};
use crate::kernel::{Budget, Kernel, NS_PER_S, rng_stream};
use crate::metrics::{EventBits, Metrics};
use crate::scenario::{Arrival, NodeRef, Partitioner, ProducerClient, Scenario};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub(crate) struct TopicRt {
    pub first_part: u32,
    pub partitions: u32,
}

/// Interns names into dense ids in first-seen order.
#[derive(Default)]
struct Interner {
    ids: BTreeMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }
}

/// The scenario's `[[flows]]` with their event types as ids (validation
/// has made sure a producer or an emit rule makes each).
fn flow_defs(s: &Scenario, types: &mut Interner) -> Vec<crate::flows::FlowDef> {
    s.flows
        .iter()
        .map(|f| {
            let ids = |types: &mut Interner, list: &[String]| {
                list.iter().map(|t| types.id(t) as u16).collect()
            };
            crate::flows::FlowDef {
                name: f.name.clone(),
                starts: types.id(&f.starts) as u16,
                completes: ids(types, &f.completes),
                fails: ids(types, &f.fails),
                holds: f
                    .holds
                    .iter()
                    .map(|h| {
                        (
                            h.name.clone(),
                            types.id(&h.take) as u16,
                            types.id(&h.release) as u16,
                        )
                    })
                    .collect(),
                within_ns: s.flow_within(f).ns(),
            }
        })
        .collect()
}

pub(crate) fn build(s: &Scenario, seed: u64) -> World {
    let brokers_n = s.cluster.brokers;
    let mut catalog = Catalog {
        topics: s.topics.iter().map(|t| t.name.clone()).collect(),
        brokers: brokers_n,
        ..Catalog::default()
    };
    let (topics, mut parts) = build_topics(s, &mut catalog);
    let walks = super::broker::PartitionWalks::new(&parts);
    let l = Layout {
        s,
        seed,
        topic_id: topic_ids(s),
        topics,
        key_space: Arc::new(KeySpace::new(s.key_ranges())),
    };
    let mut acc = Acc {
        catalog,
        types: intern_types(s),
        producers: Vec::new(),
        node_names: Vec::new(),
    };
    // Producers first (their node ids come first), then service emitters.
    build_producers(&l, &mut acc);
    let emitters = build_emitters(&l, &mut acc);
    for p in &mut parts {
        p.producer_state = vec![Default::default(); acc.producers.len()];
    }
    let brokers = build_brokers(s, seed, &mut acc.node_names);
    let (groups, mut consumers) = build_groups(&l, &mut acc, parts.len(), &emitters);
    let producer_nodes = acc.producers.len() as u32;
    let first_consumer_node = producer_nodes + brokers_n;
    for (i, c) in consumers.iter_mut().enumerate() {
        c.node = Node(first_consumer_node + i as u32);
    }
    build_txn_producers(&l, &mut acc, &groups, &mut consumers, parts.len());
    let Acc {
        mut catalog,
        mut types,
        producers,
        mut node_names,
    } = acc;
    let (key_space, service_emitters) = (l.key_space, emitters.services);
    for p in &mut parts {
        p.producer_state = vec![Default::default(); producers.len()];
    }
    // Services: nodes after every consumer.
    let first_service_node = producer_nodes + brokers_n + consumers.len() as u32;
    let sync = super::service::build_services(
        s,
        seed,
        &mut |t| types.id(t) as u16,
        &key_space,
        &service_emitters,
        first_service_node,
    );
    for sv in &s.services {
        node_names.push(format!("service/{}", sv.name));
        catalog.services.push(sv.name.clone());
    }
    // Dedicated controllers: nodes after the services.
    let first_controller_node = first_service_node + s.services.len() as u32;
    for c in 0..s.cluster.controller_nodes() {
        node_names.push(format!("controller-{c}"));
    }
    let voters: Vec<Node> = s
        .voter_nodes()
        .into_iter()
        .map(|n| match n {
            NodeRef::Controller(c) => Node(first_controller_node + c),
            NodeRef::Broker(b) => Node(producer_nodes + b),
            _ => unreachable!("voters are controllers or brokers"),
        })
        .collect();
    catalog.voters = voters.iter().map(|n| n.0).collect();
    catalog.first_broker_node = producer_nodes;
    catalog.flows = flow_defs(s, &mut types);
    catalog.group_start_ns = s.groups.iter().map(|g| g.start.ns()).collect();
    // Every event type a producer makes is interned by now.
    let type_count = types.names.len();
    let schema = super::schema::SchemaRt::new(
        s,
        |t| types.id(t) as u16,
        type_count,
        catalog.producers.len(),
    );
    catalog.event_types = types.names;
    catalog.keys = (*key_space).clone();
    catalog.nodes = s.all_nodes().into_iter().map(|n| s.node_name(n)).collect();
    debug_assert_eq!(catalog.nodes.len(), node_names.len());

    let net_rngs = node_names
        .iter()
        .map(|n| rng_stream(seed, &format!("net/{n}")))
        .collect();
    let mut net = Network::new(
        Sampler::new(&s.network.client_latency),
        Sampler::new(&s.network.replication_latency),
        producer_nodes,
        brokers_n,
        net_rngs,
    );
    net.set_bandwidth(s.network.link_bandwidth, s.network.broker_bandwidth);

    let production_end_ns = s.production_end_ns();
    let budget = Budget {
        sim_time_max_ns: s.run_end_ns(),
        kernel_events_max: s.scenario.max_kernel_events,
    };
    let node_count = node_names.len();
    let mut world = World {
        kernel: Kernel::new(budget),
        metrics: Metrics::new(&catalog),
        series: crate::timeseries::TimeSeries::new(
            &catalog,
            &s.groups
                .iter()
                .map(|g| g.auto_offset_reset == crate::scenario::OffsetReset::Earliest)
                .collect::<Vec<_>>(),
            s.report.interval.ns(),
            s.report.max_points as usize,
            s.report.partition_series as usize,
        ),
        catalog,
        scenario_name: s.scenario.name.clone(),
        seed,
        net,
        cluster: cluster_rt(s, brokers, parts, walks),
        producers,
        requests: Vec::new(),
        free_requests: Vec::new(),
        events: Default::default(),
        release_at: RELEASE_MIN,
        release_min: RELEASE_MIN,
        release_mask: 0xFFFF,
        release_aside_all: false,
        key_versions: KeyMap::new(key_space.len()),
        groups,
        consumers,
        observers: Vec::new(),
        checks: None,
        production_end_ns,
        next_part_epoch: 0,
        stop: None,
        schema,
        sync,
        first_service_node,
        first_controller_node,
        quorum: super::controller::Quorum::new(
            voters,
            s.cluster.quorum_fetch_timeout.ns(),
            s.cluster.quorum_election_timeout.ns(),
        ),
        versions: super::Versions::of(&s.cluster),
        outcome_salt: {
            use rand::Rng as _;
            rng_stream(seed, "business-outcomes").next_u64()
        },
        ticks: 0,
        node_state: vec![NodeState::Up; node_count],
        down_nodes: 0,
        faults: Vec::new(),
        handler_faults: Vec::new(),
        pending_fault_events: 0,
        fault_log: Vec::new(),
        fetch_timeout_ns: s.network.request_timeout.ns(),
        broker_session_ns: s.cluster.broker_session_timeout.ns(),
        next_marker: 0,
        producer_nodes,
        progress: None,
        max_memory: crate::budget::max_memory(),
        interrupt: None,
        unfinished_ages: wants_unfinished_ages(s),
        effects: Vec::new(),
    };

    // First events: arrivals, follower fetches, group joins, the tick.
    for (i, p) in s.producers.iter().enumerate() {
        let start = p.start.ns();
        if start < world.producers[i].arrival.as_ref().map_or(0, |a| a.stop_ns) {
            world.producers[i].arrival_pending = true;
            world
                .kernel
                .schedule_at(start, Ev::Arrival { producer: i as u32 });
        }
    }
    for (i, sv) in s.services.iter().enumerate() {
        if let Some(r) = &sv.requests {
            world
                .kernel
                .schedule_at(r.start.ns(), Ev::Request { service: i as u32 });
        }
    }
    for part in 0..world.cluster.parts.len() {
        for replica in 1..world.cluster.parts[part].replicas.len() {
            let generation = world.cluster.next_fetch_generation;
            world.cluster.next_fetch_generation += 1;
            world.cluster.parts[part].logs[replica].fetch_generation = generation;
            world.kernel.schedule_at(
                0,
                Ev::ReplicaFetchArrive {
                    part: part as u32,
                    replica: replica as u32,
                    generation,
                },
            );
        }
    }
    for (g, grp) in s.groups.iter().enumerate() {
        world
            .kernel
            .schedule_at(grp.start.ns(), Ev::GroupStart { group: g as u32 });
    }
    world.kernel.schedule_at(TICK_NS, Ev::Tick);
    world.install_faults(s, concrete_plan(s, seed));
    debug_assert!(
        s.producers
            .iter()
            .all(|p| p.arrival != Arrival::Bursty || p.on.is_some())
    );
    world
}

/// A producer that writes for a service (emit rules, dead letters, saga
/// commands, a synchronous service's `emit`): default client settings,
/// keys hashed as Kafka's default partitioner does.
fn emitter(l: &Layout, name: &str, t: &TopicRt, event_type: u16, node: Node) -> ProducerRt {
    let key_space = &l.key_space;
    let mut rng = rng_stream(l.seed, &format!("producer/{name}"));
    let client = ProducerClient::default();
    let chooser = PartitionChooser::new(
        Partitioner::Murmur2,
        t.partitions,
        key_space.clone(),
        0,
        key_space.len(),
        client.batch_size,
        &mut rng,
    );
    let backoff = retry_backoff(l, &client, name);
    let mut p = service_producer(
        node,
        t.first_part,
        event_type,
        client,
        rng,
        chooser,
        backoff,
    );
    p.parts = (0..t.partitions).map(|_| ProdPart::default()).collect();
    p
}

/// A producer with no arrivals of its own: it writes what a service hands
/// it (no partitions yet: the caller sizes them).
fn service_producer(
    node: Node,
    first_part: u32,
    event_type: u16,
    client: ProducerClient,
    rng: crate::kernel::Rng,
    chooser: PartitionChooser,
    backoff: RetryBackoff,
) -> ProducerRt {
    ProducerRt {
        node,
        first_part,
        event_type,
        client,
        arrival: None,
        rng,
        keys: None,
        first_key: 0,
        chooser,
        payload: Sampler::Constant(0),
        parts: Vec::new(),
        live: Vec::new(),
        timer_pending: false,
        arrival_pending: false,
        next_epoch: 1,
        tombstones: 0.0,
        outbox: false,
        pool: None,
        txn: None,
        backoff,
    }
}

/// A producer's wait before a retry: from `retry_backoff` doubling up to
/// `retry_backoff_max` with jitter (KIP-580), or constant before Kafka 3.7.
/// Its jitter has a stream of its own, so that retries move no other draw.
fn retry_backoff(l: &Layout, client: &ProducerClient, name: &str) -> RetryBackoff {
    let initial = client.retry_backoff.ns();
    let max = if l.s.cluster.kip580() {
        client.retry_backoff_max.ns()
    } else {
        initial
    };
    let seed = variates::below(
        &mut rng_stream(l.seed, &format!("producer/{name}/backoff")),
        u64::MAX,
    );
    RetryBackoff::new(initial, max, seed)
}

/// A producer's buffer memory: for a producer the application feeds
/// (arrivals), not a transactional one (its records wait for their
/// transaction, which the buffer does not model).
fn buffer_pool(p: &crate::scenario::Producer) -> Option<Box<BufferPool<NewRecord>>> {
    (!p.transactional).then(|| Box::new(BufferPool::new(p.buffer_memory, p.max_block.ns())))
}

/// What the build steps read: the scenario, the seed, the topics' layout
/// and the key space.
/// Each topic's index, by name.
fn topic_ids(s: &Scenario) -> BTreeMap<&str, u32> {
    (s.topics.iter().enumerate())
        .map(|(i, t)| (t.name.as_str(), i as u32))
        .collect()
}

/// Some objective bounds a group's latency: the ages of the records left
/// unfinished are kept at the end.
fn wants_unfinished_ages(s: &Scenario) -> bool {
    use crate::scenario::LatencyKind::{EndToEnd, FromOrigin};
    (s.checks.objectives.iter()).any(|o| matches!(o.latency, Some(EndToEnd | FromOrigin)))
}

struct Layout<'a> {
    s: &'a Scenario,
    seed: u64,
    topics: Vec<TopicRt>,
    topic_id: BTreeMap<&'a str, u32>,
    key_space: Arc<KeySpace>,
}

/// What the build steps add to: names, event types, producers (every
/// producer, numbered in the order they are added) and node names.
struct Acc {
    catalog: Catalog,
    types: Interner,
    producers: Vec<ProducerRt>,
    node_names: Vec<String>,
}

/// The producers that write for the groups and services.
struct Emitters {
    /// Per group: its emit rules.
    groups: Vec<Vec<EmitRt>>,
    /// Per group: its dead-letter publisher.
    dead_letters: Vec<Option<u32>>,
    /// Per group: its saga's producers, by topic.
    sagas: Vec<BTreeMap<String, u32>>,
    /// Per service: its Kafka producer (`emit`).
    services: Vec<Option<u32>>,
}

/// Topics and partitions, replicas placed round-robin as Kafka does.
fn build_topics(s: &Scenario, catalog: &mut Catalog) -> (Vec<TopicRt>, Vec<PartitionRt>) {
    let brokers_n = s.cluster.brokers;
    let mut topics = Vec::new();
    let mut parts = Vec::new();
    for (ti, t) in s.topics.iter().enumerate() {
        topics.push(TopicRt {
            first_part: parts.len() as u32,
            partitions: t.partitions,
        });
        for p in 0..t.partitions {
            let replicas: Vec<u32> = (0..t.replication_factor)
                .map(|r| (p + ti as u32 + r) % brokers_n)
                .collect();
            let rf = replicas.len();
            parts.push(PartitionRt {
                unclean_allowed: t.unclean_leader_election,
                min_isr: t.min_insync_replicas,
                retention_ns: t.retention.ns(),
                compaction: (t.cleanup_policy == crate::scenario::CleanupPolicy::Compact).then(
                    || {
                        Box::new(super::broker::Compaction {
                            lag_ns: t.min_compaction_lag.ns(),
                            delete_retention_ns: t.delete_retention.ns(),
                            ..Default::default()
                        })
                    },
                ),
                flush_messages: t.flush_messages,
                flush_ns: t.flush_ms.map(|d| d.ns()),
                log_append_time: t.message_timestamp_type
                    == crate::scenario::TimestampType::LogAppendTime,
                timestamp_bounds: t.timestamp_bounds(&s.cluster),
                ..PartitionRt::new(replicas)
            });
            catalog.partitions.push((ti as u32, p));
            catalog.replication.push(rf as u32);
            catalog
                .replicas
                .push(parts.last().expect("pushed").replicas.clone());
            catalog.min_isr.push(t.min_insync_replicas);
        }
    }
    (topics, parts)
}

/// Every event type a producer, an emit rule or a service makes, in a
/// fixed order.
fn intern_types(s: &Scenario) -> Interner {
    let mut types = Interner::default();
    for p in &s.producers {
        types.id(&p.event_type);
    }
    for g in &s.groups {
        for e in &g.emit {
            types.id(&e.event_type);
        }
    }
    for sv in &s.services {
        for t in sv.event_types() {
            types.id(t);
        }
    }
    types
}

/// The scenario's producers.
fn build_producers(l: &Layout, acc: &mut Acc) {
    let (s, seed, topics, topic_id, key_space) =
        (l.s, l.seed, &l.topics, &l.topic_id, &l.key_space);
    let Acc {
        catalog,
        types,
        producers,
        node_names,
    } = acc;
    for p in &s.producers {
        let mut rng = rng_stream(seed, &format!("producer/{}", p.name));
        let t = &topics[topic_id[p.topic.as_str()] as usize];
        let first_key = key_space.base(&p.key_prefix);
        let chooser = PartitionChooser::new(
            p.partitioner,
            t.partitions,
            key_space.clone(),
            first_key,
            p.keys.n(),
            p.batch_size,
            &mut rng,
        );
        let stop_ns = p.stop.map_or(s.duration_ns(), |d| d.ns());
        let (on_ns, off_ns) = (p.on.map_or(0, |d| d.ns()), p.off.map_or(0, |d| d.ns()));
        producers.push(ProducerRt {
            node: Node(producers.len() as u32),
            first_part: t.first_part,
            event_type: types.id(&p.event_type) as u16,
            client: p.client(),
            arrival: Some(ArrivalRt {
                kind: p.arrival,
                mean_gap_ns: NS_PER_S as f64 / p.rate,
                on_ns,
                off_ns,
                start_ns: p.start.ns(),
                stop_ns,
            }),
            rng,
            keys: Some(KeySampler::new(&p.keys)),
            first_key,
            chooser,
            payload: Sampler::new(&p.payload),
            parts: (0..t.partitions).map(|_| ProdPart::default()).collect(),
            live: Vec::new(),
            timer_pending: false,
            arrival_pending: false,
            next_epoch: 1,
            tombstones: p.tombstones,
            outbox: false,
            pool: buffer_pool(p),
            backoff: retry_backoff(l, &p.client(), &p.name),
            txn: p.client().transactions.map(|tx| {
                Box::new(TxnRt::new(
                    tx.interval.ns(),
                    tx.timeout.ns(),
                    t.partitions as usize,
                ))
            }),
        });
        node_names.push(format!("producer/{}", p.name));
        catalog.producers.push(p.name.clone());
    }
}

/// The groups' emitters (emit rules, dead letters, sagas), then the
/// services' Kafka producers.
fn build_emitters(l: &Layout, acc: &mut Acc) -> Emitters {
    let (s, topics, topic_id) = (l.s, &l.topics, &l.topic_id);
    let Acc {
        catalog,
        types,
        producers,
        node_names,
    } = acc;
    let mut group_emits: Vec<Vec<EmitRt>> = Vec::new();
    let mut dlt_producers = Vec::new();
    // Per group: its saga's producers, by topic.
    let mut saga_producers: Vec<BTreeMap<String, u32>> = Vec::new();
    for g in &s.groups {
        let mut rules = Vec::new();
        /// What an emitter producer writes for.
        enum For<'a> {
            Rule(&'a crate::scenario::Emit),
            DeadLetters,
            Saga,
        }
        let emit_topics = g.emit.iter().map(|e| (For::Rule(e), &e.topic));
        let dlt = g.dead_letter_topic.iter().map(|t| (For::DeadLetters, t));
        let saga_topics = s.saga_topics(g);
        let saga = saga_topics.iter().map(|t| (For::Saga, t));
        let mut dlt_producer = None;
        let mut sagas = BTreeMap::new();
        for (e, topic) in emit_topics.chain(dlt).chain(saga) {
            let name = format!("{}->{}", g.name, topic);
            let t = &topics[topic_id[topic.as_str()] as usize];
            let event_type = match e {
                For::Rule(e) => {
                    rules.push(EmitRt {
                        on: e.on.as_deref().map(|t| types.id(t) as u16),
                        producer: producers.len() as u32,
                        event_type: types.id(&e.event_type) as u16,
                        mode: e.mode,
                        failure: e
                            .failure
                            .as_ref()
                            .map(|f| (types.id(&f.event_type) as u16, f.probability)),
                    });
                    types.id(&e.event_type) as u16
                }
                For::DeadLetters => {
                    dlt_producer = Some(producers.len() as u32);
                    0
                }
                For::Saga => {
                    sagas.insert(topic.clone(), producers.len() as u32);
                    0
                }
            };
            let node = Node(producers.len() as u32);
            let mut relay = emitter(l, &name, t, event_type, node);
            // An outbox rule's and a saga's records are in the service's
            // database: its relay loses none in a crash.
            relay.outbox = match e {
                For::Rule(e) => e.mode == crate::scenario::EmitMode::Outbox,
                For::Saga => true,
                For::DeadLetters => false,
            };
            producers.push(relay);
            node_names.push(format!("producer/{name}"));
            catalog.producers.push(name);
        }
        group_emits.push(rules);
        dlt_producers.push(dlt_producer);
        saga_producers.push(sagas);
    }
    // Services' Kafka producers (their `emit`).
    let mut service_emitters = Vec::new();
    for sv in &s.services {
        let (Some(e), Some(name)) = (&sv.emit, Scenario::service_emitter(sv)) else {
            service_emitters.push(None);
            continue;
        };
        let t = &topics[topic_id[e.topic.as_str()] as usize];
        let id = producers.len() as u32;
        let event_type = types.id(&e.event_type) as u16;
        producers.push(emitter(l, &name, t, event_type, Node(id)));
        service_emitters.push(Some(id));
        node_names.push(format!("producer/{name}"));
        catalog.producers.push(name);
    }
    Emitters {
        groups: group_emits,
        dead_letters: dlt_producers,
        sagas: saga_producers,
        services: service_emitters,
    }
}

/// The brokers' component: the brokers, the partitions they hold and
/// the settings of the cluster's version.
fn cluster_rt(
    s: &Scenario,
    brokers: Vec<BrokerRt>,
    parts: Vec<PartitionRt>,
    walks: super::broker::PartitionWalks,
) -> super::broker::Cluster {
    super::broker::Cluster {
        brokers,
        isr_watch: super::broker::IsrWatch::new(parts.len()),
        parts,
        walks,
        replica_lag_time_max_ns: s.cluster.replica_lag_time_max.ns(),
        replica_fetch_timeout_ns: s.network.request_timeout.ns(),
        next_fetch_generation: 0,
        disk: None,
        strict_min_isr: s.cluster.strict_min_isr(),
        elr: s.cluster.elr(),
        clocks: None,
    }
}

/// The brokers.
fn build_brokers(s: &Scenario, seed: u64, node_names: &mut Vec<String>) -> Vec<BrokerRt> {
    let brokers_n = s.cluster.brokers;
    let mut brokers = Vec::new();
    for b in 0..brokers_n {
        brokers.push(BrokerRt::new(
            Sampler::new(&s.cluster.append_latency),
            s.cluster.capacity.map_or(0.0, |c| NS_PER_S as f64 / c),
            rng_stream(seed, &format!("broker/{b}")),
        ));
        node_names.push(format!("broker/{b}"));
    }
    brokers
}

/// A saga orchestrator's runtime (`[groups.saga]`), its topics' emitters
/// in `producers`.
fn build_saga(
    g: &crate::scenario::Group,
    types: &mut Interner,
    producers: &BTreeMap<String, u32>,
) -> Option<Box<super::saga::SagaRt>> {
    let sg = g.saga.as_ref()?;
    let steps = sg
        .steps
        .iter()
        .map(|st| super::saga::StepRt {
            producer: producers[&st.topic],
            command: types.id(&st.command) as u16,
            success: types.id(&st.success) as u16,
            failure: st.failure.as_deref().map(|t| types.id(t) as u16),
            compensation: st.compensation.as_deref().map(|t| types.id(t) as u16),
            compensated: st.compensated.as_deref().map(|t| types.id(t) as u16),
        })
        .collect();
    let cancelled = sg
        .cancelled
        .as_ref()
        .map(|c| (producers[&c.topic], types.id(&c.event_type) as u16));
    Some(Box::new(super::saga::SagaRt::new(
        types.id(&sg.starts) as u16,
        sg.reply_timeout.ns(),
        steps,
        g.emit.len() as u32,
        cancelled,
    )))
}

/// Groups and their consumers (numbered as nodes by the caller).
fn build_groups(
    l: &Layout,
    acc: &mut Acc,
    parts_len: usize,
    emitters: &Emitters,
) -> (Vec<GroupRt>, Vec<ConsumerRt>) {
    let (s, seed, topics, topic_id, key_space) =
        (l.s, l.seed, &l.topics, &l.topic_id, &l.key_space);
    let Acc {
        catalog,
        types,
        node_names,
        ..
    } = acc;
    let (group_emits, dlt_producers, saga_producers) = (
        emitters.groups.clone(),
        &emitters.dead_letters,
        &emitters.sagas,
    );
    let mut groups = Vec::new();
    let mut consumers = Vec::new();
    for (gi, (g, emits)) in s.groups.iter().zip(group_emits).enumerate() {
        let mut gparts = Vec::new();
        let mut parts_by_topic = Vec::new();
        for t in &g.topics {
            let tr = &topics[topic_id[t.as_str()] as usize];
            parts_by_topic.push(tr.partitions as usize);
            gparts.extend(tr.first_part..tr.first_part + tr.partitions);
        }
        let mut part_index = vec![u32::MAX; parts_len];
        for (i, &p) in gparts.iter().enumerate() {
            part_index[p as usize] = i as u32;
        }
        let mut by_type = vec![None; types.names.len()];
        for (t, d) in &g.processing_by_type {
            if let Some(&id) = types.ids.get(t) {
                by_type[id as usize] = Some(Sampler::new(d));
            }
        }
        let mut members = Vec::new();
        let heartbeat_ns = g.heartbeat_interval().ns().max(1);
        for i in 0..g.consumers {
            let id = consumers.len() as u32;
            members.push(id);
            let name = format!("consumer/{}/{}", g.name, i);
            consumers.push(ConsumerRt {
                node: Node(0), // numbered below, after every broker
                group: gi as u32,
                rng: rng_stream(seed, &name),
                token: 0,
                generation: 0,
                reset_error: Vec::new(),
                txn_producer: None,
                txn_waiting: false,
                heartbeat_phase_ns: variates::below(
                    &mut rng_stream(seed, &format!("{name}/heartbeat")),
                    heartbeat_ns,
                ),
                parts: Vec::new(),
                index: Default::default(),
                ready: Default::default(),
                idle: Default::default(),
                dirty: Default::default(),
                rr: 0,
                batch: VecDeque::new(),
                current: None,
                waiting: true,
                last_heard_ns: 0,
                last_poll_ns: 0,
                auto_commit_due_ns: 0,
                auto_commit_timer: false,
            });
            node_names.push(name);
            catalog.consumers.push((gi as u32, i));
        }
        let n = gparts.len();
        catalog.group_partitions.push(gparts.clone());
        groups.push(GroupRt {
            consumers: members,
            parts: gparts,
            parts_by_topic,
            part_index,
            assignment: g.assignment,
            rebalance_time_ns: g.rebalance_time.ns(),
            auto_offset_reset: g.auto_offset_reset,
            max_poll_records: g.max_poll_records,
            commit: g.commit,
            auto_commit_interval_ns: g.auto_commit_interval.ns(),
            client: g.client,
            auto_offset_store: g.enable_auto_offset_store,
            isolation: g.isolation,
            idempotency: g.idempotency,
            dedup_capacity: g.dedup_capacity,
            processing: Sampler::new(&g.processing),
            by_type,
            emits,
            session_timeout_ns: g.session_timeout.ns(),
            heartbeat_interval_ns: heartbeat_ns,
            max_poll_interval_ns: g.max_poll_interval.ns(),
            static_membership: g.static_membership,
            on_failure: g.failure_policy(),
            handler_retries: g.handler_retries,
            handler_backoff_ns: g.handler_retry_backoff.ns(),
            dlt_producer: dlt_producers[gi],
            saga: build_saga(g, &mut *types, &saga_producers[gi]),
            generation: 0,
            members: Vec::new(),
            rebalancing: false,
            second_round: false,
            joins_pending: 0,
            last_join_ns: 0,
            owner: vec![None; n],
            target: vec![None; n],
            // A group with no reset policy ran before the run: it committed
            // the start of the (then empty) logs.
            committed: vec![
                (g.auto_offset_reset == crate::scenario::OffsetReset::None).then_some(0);
                n
            ],
            committed_epoch: vec![0; n],
            dedup: EventBits::default(),
            dedup_fifo: VecDeque::new(),
            versions: KeyMap::new(key_space.len()),
        });
        catalog.groups.push(g.name.clone());
    }
    (groups, consumers)
}

/// commit = "in-transaction": each consumer has its own transactional
/// producer, in its own process (its node), that can write to every
/// partition (what the service emits, wherever it goes).
fn build_txn_producers(
    l: &Layout,
    acc: &mut Acc,
    groups: &[GroupRt],
    consumers: &mut [ConsumerRt],
    parts_len: usize,
) {
    let (s, seed, key_space) = (l.s, l.seed, &l.key_space);
    let Acc {
        catalog, producers, ..
    } = acc;
    for (gi, g) in s.groups.iter().enumerate() {
        if g.commit != crate::scenario::CommitMode::InTransaction {
            continue;
        }
        for (i, &c) in groups[gi].consumers.iter().enumerate() {
            let id = producers.len() as u32;
            let name = format!("{}/{}/producer", g.name, i);
            let mut txn = TxnRt::new(
                g.commit_interval.ns(),
                g.transaction_timeout.ns(),
                parts_len,
            );
            txn.consumer = Some(c);
            let chooser = PartitionChooser::new(
                Partitioner::RoundRobin,
                parts_len as u32,
                key_space.clone(),
                0,
                1,
                ProducerClient::default().batch_size,
                &mut rng_stream(seed, "unused"),
            );
            let client = ProducerClient {
                request_timeout: g.producer_request_timeout,
                ..ProducerClient::default()
            };
            let rng = rng_stream(seed, &format!("producer/{name}"));
            let backoff = retry_backoff(l, &client, &name);
            let node = consumers[c as usize].node;
            let mut p = service_producer(node, 0, 0, client, rng, chooser, backoff);
            p.parts = (0..parts_len).map(|_| ProdPart::default()).collect();
            p.txn = Some(Box::new(txn));
            producers.push(p);
            consumers[c as usize].txn_producer = Some(id);
            catalog.producers.push(name);
        }
    }
    // The last producers are in: say which write in transactions.
    catalog.transactional = producers.iter().map(|p| p.txn.is_some()).collect();
}
