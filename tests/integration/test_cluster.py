"""Cluster mode: several warmd nodes on one Redis share the targets, survive
a node's SIGKILL and Redis's death, hear every touch, agree on rollout
weights, and stay up against a Redis that answers garbage or nothing.

Everything is measured from the fake provider's own request log: each
prefix has a marker in its system prompt, every warm (max_tokens 0) and
every application request of a prefix is found by it. "No cold gap" means:
consecutive requests of a prefix less than a TTL apart, every warm after
the first one a cache read (it wrote nothing), and the last one less than a
TTL before the end. "One warm per window" means no two warms of a prefix
within half a TTL. The names, keys, fields and log lines are those of
/work/wt/CLUSTER.md (docs/cluster.md once merged).

Needs redis-server and redis-cli (scripts/deps.sh); skipped (77) without.
"""
import json
import re
import time
import unittest

from harness import ANTHROPIC_KEY, wait_for
from redisfix import BadRedis, Cluster, Subscriber, marked_template, sleep_until

TTL = 20          # seconds; the fake provider's 5m TTL is set to it
LEASE = 3         # seconds
TARGETS = [f"c{i}" for i in range(6)]
NODES = ["n1", "n2", "n3"]


def marker(name):
    return f"[[{name}]]"


def targets_text(names, extra=""):
    return "targets = (\n" + ",\n".join(
        f'  {{ name = "{n}"; provider = "anthropic"; request_file = "{n}.json"; ttl = {TTL}; '
        f'{extra} }}' for n in names) + "\n);"


def warm_times(c, m, log, since=0.0, until=float("inf")):
    return [e["t"] for e in c.requests(m, log, warms_only=True) if since <= e["t"] <= until]


class ClusterTest(unittest.TestCase):
    """A fresh Cluster per test, with TARGETS (distinct prefixes) on every node."""
    names = TARGETS

    def setUp(self):
        self.c = Cluster(TTL, LEASE)
        for n in self.names:
            self.c.write_all(f"{n}.json", marked_template(marker(n)))
        self.c.targets_text = targets_text(self.names)

    def tearDown(self):
        self.c.close()

    def explain(self, markers, log=None):
        return ("\ntimeline (s since start; a = application request, w = wrote the cache):\n" +
                self.c.timeline(markers, log) + "\n" + self.c.logs())

    def assert_no_cold_gap(self, markers, log, until):
        """Every prefix kept warm from its first warm to until (see the module doc)."""
        for m in markers:
            rs = self.c.requests(m, log)
            self.assertTrue(rs, f"{m} was never warmed" + self.explain(markers, log))
            for a, b in zip(rs, rs[1:]):
                self.assertLess(b["t"] - a["t"], TTL,
                                f"{m}: cold gap of {b['t'] - a['t']:.1f}s at "
                                f"{a['t'] - self.c.t0:.1f}s" + self.explain(markers, log))
                if b["max_tokens"] == 0:
                    self.assertFalse(b["write"], f"{m}: the warm at {b['t'] - self.c.t0:.1f}s "
                                     f"wrote the cache (it had expired)" + self.explain(markers, log))
            self.assertLess(until - rs[-1]["t"], TTL,
                            f"{m}: not refreshed since {rs[-1]['t'] - self.c.t0:.1f}s" +
                            self.explain(markers, log))

    def assert_one_warm_per_window(self, markers, log, since, until=float("inf"), at_least=1):
        """No two warms of a prefix within TTL/2 between since and until."""
        for m in markers:
            ts = warm_times(self.c, m, log, since, until)
            self.assertGreaterEqual(len(ts), at_least,
                                    f"{m}: {len(ts)} warms from {since - self.c.t0:.1f}s on" +
                                    self.explain(markers, log))
            for a, b in zip(ts, ts[1:]):
                self.assertGreaterEqual(b - a, TTL / 2,
                                        f"{m}: warmed twice within {b - a:.2f}s at "
                                        f"{a - self.c.t0:.1f}s" + self.explain(markers, log))

    def wait(self, pred, timeout, what, step=0.1):
        """wait_for, with the nodes' log tails when it times out."""
        try:
            return wait_for(pred, timeout, step=step, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.c.logs()}") from None

    def cfg(self, node):
        return self.c.redis.hgetall(f"{self.c.ns}:cfg:{node}")

    def app_request(self, name, question="Where is my parcel?"):
        """What an application on another host sends: the template with its
        own question. It must read the warmed prefix."""
        with open(self.c.env.path(f"{name}.json")) as f:
            tmpl = json.load(f)
        tmpl["messages"] = [{"role": "user", "content": question}]
        tmpl["max_tokens"] = 16
        status, body = self.c.env.fake.post("/v1/messages", tmpl, {
            "x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"})
        self.assertEqual(status, 200, body)
        self.assertGreater(body["usage"]["cache_read_input_tokens"], 1024,
                           f"{name}: the application found the prefix cold" +
                           self.explain([marker(name)]))
        return body


class SteadyStateAndSigkill(ClusterTest):
    # Entry ids hash the fake provider's URL, whose port changes from run to
    # run, so who owns what is random: with 30 targets a node owns none
    # with probability 3 * (2/3)^30, about 1.5e-5 (with 6 it would be 0.26).
    names = [f"c{i}" for i in range(30)]

    def test_one_warm_per_window_spread_then_a_sigkilled_node_loses_nothing(self):
        c = self.c
        markers = [marker(n) for n in self.names]
        c.start(NODES)
        owners = c.settle()
        self.assertEqual(set(owners), set(self.names))
        self.assertEqual(set(owners.values()), set(NODES),
                         f"ownership not spread over the three nodes: {owners}")

        # Redis holds what the contract says: the members, each node's
        # config (the same for all: same targets), the leases and warmth.
        ns = c.ns
        self.assertEqual(set(c.redis.lines("SMEMBERS", f"{ns}:nodes")), set(NODES))
        cfgs = {n: self.cfg(n) for n in NODES}
        self.assertEqual(set(cfgs["n1"]), set(self.names), cfgs)
        for n in NODES:
            self.assertEqual(cfgs[n], cfgs["n1"], f"{n}'s config entries differ: {cfgs}")
        for name, eid in cfgs["n1"].items():
            self.assertRegex(eid, r"^[0-9a-f]{16}$")
            self.assertEqual(c.redis.cli("GET", f"{ns}:lease:{eid}"), owners[name], name)
            # NODE is the node that warmed last: at start-up, maybe the first
            # one up, before the owners settled
            warmth = c.redis.cli("GET", f"{ns}:warm:{eid}").split(" ")
            self.assertEqual(warmth[0], "v1", warmth)
            self.assertIn(warmth[1], NODES, warmth)
            self.assertEqual(len(warmth), 6, warmth)
            self.assertIn(warmth[5], ("hit", "write", "none", "error"), warmth)
            self.assertAlmostEqual(float(warmth[3]),
                                   c.nodes[owners[name]].targets()[name]["expires_at"],
                                   delta=0.01, msg=(name, warmth))
        for n in NODES:
            hb = self.wait(lambda: (lambda h: h if len(h) == 5 and h[3] == str(
                list(owners.values()).count(n)) else None)(
                    c.redis.cli("GET", f"{ns}:node:{n}").split(" ")), LEASE,
                what=f"{n}'s heartbeat to count {list(owners.values()).count(n)} owned")
            self.assertEqual(hb[0], "v1", hb)
            self.assertRegex(hb[1], r"^[0-9a-f]{16}$")
            self.assertEqual(int(hb[2]), LEASE * 1000, hb)
            self.assertRegex(hb[4], r"^[0-9a-f]{16}$")
            pttl = int(c.redis.cli("PTTL", f"{ns}:node:{n}"))
            self.assertTrue(0 < pttl <= LEASE * 1000, pttl)
        # and every node's status shows the cluster
        for n in NODES:
            cl = c.nodes[n].cluster_status()
            self.assertEqual(cl["node"], n)
            self.assertEqual(cl["namespace"], ns)
            self.assertEqual(cl["redis"], c.redis.url)
            self.assertEqual(cl["lease_s"], LEASE)
            self.assertTrue(cl["connected"])
            self.assertFalse(cl["degraded"])
            self.assertIsNone(cl["degraded_since"])
            self.assertEqual(cl["owned"], list(owners.values()).count(n), cl)
            self.assertEqual(sorted(x["node"] for x in cl["nodes"]), NODES, cl)
            self.assertEqual([x["node"] for x in cl["nodes"] if x["self"]], [n], cl)
            for x in cl["nodes"]:
                self.assertLess(x["heartbeat_age_s"], LEASE, cl)
            self.assertIn("cluster: connected to Redis", c.nodes[n].log())
            metrics = c.nodes[n].ctl("metrics")[1]
            self.assertRegex(metrics, r"(?m)^warmd_cluster_connected 1$")
            self.assertRegex(metrics, r"(?m)^warmd_cluster_degraded 0$")
            self.assertRegex(metrics, r"(?m)^warmd_cluster_nodes 3$")
            self.assertRegex(metrics, rf"(?m)^warmd_cluster_owned_targets "
                                      rf"{list(owners.values()).count(n)}$")

        # Steady state: two windows, each prefix warmed once per window.
        t_steady = time.time()
        time.sleep(2 * TTL)
        log = c.log()
        self.assert_one_warm_per_window(markers, log, t_steady, at_least=2)
        self.assertEqual(c.owners(), owners, "ownership moved while nothing happened")
        # the cluster view: a target another node keeps warm shows the
        # owner's warmth on every node
        def same_view():
            views = {n: c.nodes[n].targets() for n in NODES}
            return all(abs(views[n][name]["expires_at"] - views[owners[name]][name]["expires_at"])
                       < 0.01 for name in self.names for n in NODES) or None
        self.wait(same_view, 5, step=0.2,
                 what="every node to show each target's expires_at as its owner has it")

        # SIGKILL the node that owns the most.
        victim = max(NODES, key=lambda n: list(owners.values()).count(n))
        moved = sorted(t for t, o in owners.items() if o == victim)
        survivors = [n for n in NODES if n != victim]
        t_kill = time.time()
        # (a start-up logs takeovers too, of entries a node let go: only what comes after counts)
        before = {n: len(c.nodes[n].log()) for n in survivors}
        c.nodes[victim].kill()
        after = self.wait(lambda: c.owners(), 4 * LEASE, step=0.1,
                         what=f"the survivors to own {victim}'s targets")
        took = time.time() - t_kill
        self.assertLessEqual(took, 1.25 * LEASE + LEASE / 4 + 2.5,
                             f"takeover took {took:.1f}s with a {LEASE}s lease")
        for t in self.names:
            if t in moved:
                self.assertIn(after[t], survivors)
            else:
                self.assertEqual(after[t], owners[t], f"{t} moved though its owner lives")
        logs = {n: c.nodes[n].log()[before[n]:] for n in survivors}
        took_over = [(n, int(m.group(1))) for n in survivors
                     for m in re.finditer(rf"cluster: took over (\d+) entr(?:y|ies) from "
                                          rf"{victim}\b", logs[n])]
        self.assertEqual(sum(k for _, k in took_over), len(moved),
                         f"took over lines {took_over} for {moved}\n" + c.logs())
        self.assertGreaterEqual(sum(c.nodes[n].cluster_status()["takeovers"] for n in survivors),
                                len(moved))
        self.wait(lambda: victim not in c.redis.lines("SMEMBERS", f"{c.ns}:nodes"), 3 * LEASE + 5,
                 what=f"{victim} to leave {c.ns}:nodes")
        for n in survivors:
            self.wait(lambda: sorted(x["node"] for x in c.nodes[n].cluster_status()["nodes"]) ==
                     survivors, LEASE + 2, what=f"{n} to list only the survivors")

        sleep_until(t_kill + 1.5 * TTL)
        log = c.log()
        self.assert_no_cold_gap(markers, log, time.time())
        # the new owner read expires_at: no re-warm of a warm cache either
        self.assert_one_warm_per_window(markers, log, t_steady, at_least=3)
        print(f"takeover of {len(moved)} targets from {victim}: {took:.2f}s")


class CleanStop(ClusterTest):
    def test_a_stopped_node_hands_its_entries_over_before_its_lease_would_end(self):
        c = self.c
        markers = [marker(n) for n in self.names]
        c.start(NODES)
        owners = c.settle()
        leaving = max(NODES, key=lambda n: list(owners.values()).count(n))
        moved = sorted(t for t, o in owners.items() if o == leaving)
        survivors = [n for n in NODES if n != leaving]
        # Steady state first: the leaving node has warmed what it owns (the
        # takeover lines name the node whose warmth record they find; right
        # after start-up that is whoever warmed first, see the report of
        # this test's first run)
        eids = self.cfg(leaving)
        self.wait(lambda: all(c.redis.cli("GET", f"{c.ns}:warm:{eids[t]}").split(" ")[1] == leaving
                              for t in moved), TTL + 5, what=f"{leaving} to warm what it owns")
        before = {n: len(c.nodes[n].log()) for n in survivors}
        t_stop = time.time()
        rc, _ = c.nodes[leaving].stop()
        self.assertEqual(rc, 0, c.nodes[leaving].log()[-3000:])
        del c.nodes[leaving]
        after = self.wait(lambda: c.owners(), 4 * LEASE, step=0.1,
                          what=f"the survivors to own {leaving}'s targets")
        took = time.time() - t_stop
        # released, not expired: the others took over at their next cycle
        self.assertLess(took, LEASE, f"handover took {took:.1f}s with a {LEASE}s lease")
        for t in self.names:
            self.assertIn(after[t], survivors)
            if t not in moved:
                self.assertEqual(after[t], owners[t], f"{t} moved though its owner stayed")
        took_over = sum(int(m.group(1)) for n in survivors for m in re.finditer(
            rf"cluster: took over (\d+) entr(?:y|ies) from {leaving}\b",
            c.nodes[n].log()[before[n]:]))
        self.assertEqual(took_over, len(moved), c.logs())
        self.assertNotIn(f"{c.ns}:node:{leaving}",
                         c.redis.lines("KEYS", f"{c.ns}:node:*"), "heartbeat left behind")
        sleep_until(t_stop + TTL)
        log = c.log()
        self.assert_no_cold_gap(markers, log, time.time())
        self.assert_one_warm_per_window(markers, log, t_stop - TTL / 2)


class Touches(ClusterTest):
    def test_touch_published_on_redis_moves_the_owners_warm_and_a_datagram_reaches_all(self):
        c = self.c
        c.start(NODES)
        owners = c.settle()
        t_settled = time.time()
        sub = Subscriber(c.redis, f"{c.ns}:touch")
        try:
            # c0: wait for a warm, then let "another host" use the prefix
            # 5 s later and publish the touch on Redis.
            m = marker("c0")
            w0 = self.wait(lambda: warm_times(c, m, c.log(), t_settled), TTL + 5,
                          what="a warm of c0")[0]
            period = w0 - warm_times(c, m, c.log(), 0, w0 - 0.001)[-1]
            self.assertGreater(period, TTL / 2)
            planned = self.wait(lambda: (lambda t: t if t and t > w0 + 1 else None)(
                c.nodes[owners["c0"]].targets()["c0"]["next_warm_at"]), 3,
                what="the owner to plan c0's next warm")
            sleep_until(w0 + 5)
            self.app_request("c0")
            t_touch = time.time()
            self.assertGreaterEqual(c.redis.publish(f"{c.ns}:touch", "c0 hit cached=3057"), 3,
                                    "fewer than three subscribers on the touch channel")
            for n in NODES:
                self.wait(lambda: c.nodes[n].targets()["c0"]["touches"] == 1, 5,
                         what=f"{n} to apply the touch of c0")
            replanned = c.nodes[owners["c0"]].targets()["c0"]["next_warm_at"]
            self.assertGreater(replanned, planned + 4, (planned, replanned))
            w1 = self.wait(lambda: warm_times(c, m, c.log(), t_touch), TTL + 5,
                          what="the next warm of c0")[0]
            # without the touch it would have come at about w0 + period
            self.assertGreater(w1, w0 + period + 4,
                               f"warm at {w1 - c.t0:.1f}s, the touch at {t_touch - c.t0:.1f}s "
                               f"did not move it" + self.explain([m]))
            self.assertGreaterEqual(w1, t_touch + period - 1.5, self.explain([m]))
            self.assertLess(w1, t_touch + TTL, self.explain([m]))
            self.assertEqual(warm_times(c, m, c.log(), w0 + 0.001, w1 - 0.001), [])

            # c1: a datagram on one node's touch socket, not the owner's,
            # reaches every node (through Redis) and is applied once by each.
            relay = next(n for n in NODES if n != owners["c1"])
            self.app_request("c1")
            t_dgram = time.time()
            c.nodes[relay].touch("c1 hit cached=3057")
            for n in NODES:
                self.wait(lambda: c.nodes[n].targets()["c1"]["touches"] == 1, 5,
                         what=f"{n} to apply the touch of c1 sent to {relay}")
            self.wait(lambda: "c1 hit cached=3057" in sub.messages(), 5,
                     what=f"{relay} to publish the datagram on {c.ns}:touch")
            owner_view = c.nodes[owners["c1"]].targets()["c1"]
            self.assertGreaterEqual(owner_view["next_warm_at"], t_dgram + period - 1.5, owner_view)
            self.assertAlmostEqual(owner_view["last_refresh"], t_dgram, delta=1.0)
            time.sleep(1.5)
            for n in NODES:   # applied once, not again when it comes back from Redis
                self.assertEqual(c.nodes[n].targets()["c1"]["touches"], 1, n)
            self.assertEqual(sub.messages().count("c1 hit cached=3057"), 1, sub.messages())
            log = c.log()
            self.assert_no_cold_gap([marker(n) for n in TARGETS], log, time.time())
        finally:
            sub.close()


class RedisDeath(ClusterTest):
    def test_redis_killed_every_prefix_stays_warm_then_dedup_comes_back(self):
        c = self.c
        markers = [marker(n) for n in TARGETS]
        c.start(NODES)
        owners = c.settle()
        time.sleep(3)

        t_kill = time.time()
        c.redis.kill()
        for n in NODES:
            self.wait(lambda: c.nodes[n].cluster_status()["degraded"], 2 * LEASE + 2,
                     what=f"{n} to report degraded")
        for n in NODES:
            cl = c.nodes[n].cluster_status()
            self.assertFalse(cl["connected"], cl)
            self.assertIsNotNone(cl["degraded_since"], cl)
            self.assertGreaterEqual(cl["degraded_since"], t_kill - 1, cl)
            self.assertRegex(c.nodes[n].ctl("metrics")[1], r"(?m)^warmd_cluster_degraded 1$")
            self.assertIsNone(c.nodes[n].proc.poll())
        time.sleep(1.2 * TTL)   # longer than a warm period: every prefix comes due
        for n in NODES:
            lines = re.findall(r"cluster: Redis unreachable \(.*\): degraded mode, "
                               r"warming every target", c.nodes[n].log())
            self.assertEqual(len(lines), 1, f"{n}: logged {len(lines)} times\n" + c.logs())
        t_restart = time.time()
        log = c.log()
        self.assert_no_cold_gap(markers, log, t_restart)
        # fail open: each node warmed every target, so each prefix was
        # warmed more than once in some half window of the outage
        for m in markers:
            ts = warm_times(c, m, log, t_kill, t_restart)
            self.assertTrue(any(b - a < TTL / 2 for a, b in zip(ts, ts[1:])),
                            f"{m}: only one node warmed it during the outage ({len(ts)} warms)" +
                            self.explain(markers, log))

        c.redis.start()
        for n in NODES:
            self.wait(lambda: not c.nodes[n].cluster_status()["degraded"], 2 * LEASE + 8,
                     what=f"{n} to leave degraded mode")
        t_back = time.time()
        for n in NODES:
            self.assertIn("cluster: Redis back: shared ownership again", c.nodes[n].log())
            self.assertTrue(c.nodes[n].cluster_status()["connected"])
        # the empty Redis learnt everything again
        self.wait(lambda: set(c.redis.lines("SMEMBERS", f"{c.ns}:nodes")) == set(NODES),
                 LEASE + 2, what="every node back in the node set")
        for n in NODES:
            self.wait(lambda: set(self.cfg(n)) == set(TARGETS), LEASE + 2,
                     what=f"{n}'s config back in Redis")
        c.settle()
        sleep_until(t_back + 2 * LEASE + 1.2 * TTL)
        log = c.log()
        self.assert_no_cold_gap(markers, log, time.time())
        self.assert_one_warm_per_window(markers, log, t_back + 2 * LEASE, at_least=1)
        print(f"owners before {owners}, after {c.owners()}")


class RedisFrozen(ClusterTest):
    names = TARGETS[:4]

    def test_a_stopped_redis_times_out_into_degraded_mode_and_back(self):
        """SIGSTOP: the connections stay open and nothing answers, the slow
        Redis of the issue; SIGCONT: it answers everything queued at once."""
        c = self.c
        markers = [marker(n) for n in self.names]
        c.start(NODES[:2])
        c.settle()
        t_freeze = time.time()
        c.redis.freeze()
        try:
            for n in NODES[:2]:
                self.wait(lambda: c.nodes[n].cluster_status()["degraded"], 2 * LEASE + 2,
                          what=f"{n} to time Redis out and report degraded")
            sleep_until(t_freeze + 1.2 * TTL)
            for n in NODES[:2]:   # the loop never waited for Redis
                for _ in range(3):
                    t = time.monotonic()
                    self.assertEqual(c.nodes[n].ctl("ping")[0], 0)
                    self.assertLess(time.monotonic() - t, 1.0, f"{n}: slow ping")
        finally:
            c.redis.thaw()
        t_thaw = time.time()
        log = c.log()
        self.assert_no_cold_gap(markers, log, t_thaw)
        for n in NODES[:2]:
            self.wait(lambda: not c.nodes[n].cluster_status()["degraded"], 2 * LEASE + 8,
                      what=f"{n} to leave degraded mode")
        t_back = time.time()
        c.settle()
        sleep_until(t_back + 2 * LEASE + TTL)
        log = c.log()
        self.assert_no_cold_gap(markers, log, time.time())
        self.assert_one_warm_per_window(markers, log, t_back + 2 * LEASE, at_least=1)
        for n in NODES[:2]:
            self.assertIsNone(c.nodes[n].proc.poll())
            self.assertEqual(len(re.findall(r"cluster: Redis back", c.nodes[n].log())), 1,
                             c.nodes[n].log()[-3000:])


class Reload(ClusterTest):
    def test_a_reload_that_changes_a_template_on_one_node(self):
        c = self.c
        c.start(NODES)
        c.settle()
        n1 = c.nodes["n1"]
        n1.write("c0.json", marked_template(marker("c0v2")))
        t_reload = time.time()
        rc, out, err = n1.ctl("reload")
        self.assertEqual(rc, 0, err)
        self.assertIn("c0", out)
        # n1 alone has the new entry: it warms it at once
        self.wait(lambda: warm_times(c, marker("c0v2"), c.log()), 5, what="the new c0 warmed")
        for n, others in (("n1", ["n2", "n3"]), ("n2", ["n1"]), ("n3", ["n1"])):
            self.wait(lambda: sorted(c.nodes[n].targets()["c0"].get("config_differs") or []) ==
                     others, 2 * LEASE + 3, what=f"{n}: c0 config_differs {others}")
            for name, t in c.nodes[n].targets().items():
                if name != "c0":
                    self.assertFalse(t.get("config_differs"), (n, t))
        self.assertEqual(n1.targets()["c0"]["owner"], "n1")
        self.assertNotEqual(self.cfg("n1")["c0"], self.cfg("n2")["c0"])
        self.assertEqual(self.cfg("n2"), self.cfg("n3"))
        warning = [l for l in n1.log().splitlines() if "c0" in l and "n2" in l and "n3" in l]
        self.assertTrue(warning, "no warning naming c0 and the nodes that differ\n" + n1.log())
        self.assertRegex(n1.ctl("metrics")[1], r"(?m)^warmd_cluster_config_differs_targets 1$")
        time.sleep(1.2 * TTL)   # longer than a warm period: every prefix comes due
        log = c.log()
        markers = [marker(n) for n in TARGETS] + [marker("c0v2")]
        self.assert_no_cold_gap(markers, log, time.time())
        self.assert_one_warm_per_window(markers, log, t_reload, at_least=1)


class Rollout(ClusterTest):
    names = []

    def test_weights_shifted_on_one_node_route_on_the_others(self):
        c = self.c
        c.write_all("blue.json", marked_template("[[blue]]"))
        c.write_all("green.json", marked_template("[[green]]"))
        c.targets_text = (
            f'targets = ( {{ name = "bot"; provider = "anthropic"; ttl = {TTL}; versions = (\n'
            '  { name = "blue"; request_file = "blue.json"; weight = 100; },\n'
            '  { name = "green"; request_file = "green.json"; weight = 0; } ); } );')
        c.start(NODES)
        c.settle(ignore={"bot@green"})
        self.assertEqual(c.requests("[[green]]"), [], "weight 0 was warmed")

        def weights(n):
            rc, v = c.nodes[n].ctl_json("versions", "bot")
            self.assertEqual(rc, 0, v)
            return {x["name"]: x["weight"] for x in v["data"]["versions"] if x["name"]}

        rc, out, err = c.nodes["n1"].ctl("shift", "bot", "green", "10")
        t_ack = time.time()
        self.assertEqual(rc, 0, err)
        greens = warm_times(c, "[[green]]", c.log())
        self.assertTrue(greens and greens[0] <= t_ack, "shift answered before green was warm")
        w = c.redis.hgetall(f"{c.ns}:weights")
        self.assertEqual(w.get("bot@green"), "10", w)
        self.assertIn(w.get("bot@blue", "90"), ("90",), w)
        for n in NODES:
            self.wait(lambda: weights(n) == {"blue": 90, "green": 10}, 5,
                     what=f"{n} to see the shift")
        picks = [c.nodes["n3"].ctl_json("route", "bot")[1]["data"]["name"] for _ in range(200)]
        self.assertTrue(4 <= picks.count("green") <= 50, picks.count("green"))
        self.assertEqual(picks.count("green") + picks.count("blue"), 200)

        self.assertEqual(c.nodes["n2"].ctl("promote", "bot", "green")[0], 0)
        for n in ("n1", "n3"):
            self.wait(lambda: weights(n) == {"blue": 0, "green": 100}, 5,
                     what=f"{n} to see the promotion")
            for _ in range(10):
                self.assertEqual(c.nodes[n].ctl_json("route", "bot")[1]["data"]["lane"],
                                 "bot@green")
        self.assertEqual(c.nodes["n3"].ctl("rollback", "bot")[0], 0)
        for n in ("n1", "n2"):
            self.wait(lambda: weights(n) == {"blue": 90, "green": 10}, 5,
                     what=f"{n} to see the rollback")
        # both versions warm, each by one node
        time.sleep(TTL)
        log = c.log()
        self.assert_one_warm_per_window(["[[blue]]", "[[green]]"], log, t_ack, at_least=1)


class BrokenRedis(unittest.TestCase):
    """Nodes pointed at a "Redis" that misbehaves keep running, warm every
    target (fail open), say degraded and answer on the control socket."""
    MODES = ("garbage", "silent", "wrongtype", "chatty")

    def setUp(self):
        self.c = Cluster(TTL, LEASE)
        self.bad = []

    def tearDown(self):
        for b in self.bad:
            b.close()
        self.c.close()

    def test_garbage_silence_and_wrong_replies_fail_open(self):
        c = self.c
        names = {}
        for mode in self.MODES:
            b = BadRedis(c.env.path(f"bad-{mode}.sock"), mode)
            self.bad.append(b)
            names[mode] = [f"{mode}{i}" for i in range(3)]
            for n in names[mode]:
                c.write_all(f"{n}.json", marked_template(marker(n)))
        t0 = time.time()
        for mode, b in zip(self.MODES, self.bad):
            c.start([mode], redis_url="unix://" + b.path, targets_text=targets_text(names[mode]))
        for mode, b in zip(self.MODES, self.bad):
            node = c.nodes[mode]
            wait_for(lambda: b.bytes_read > 0, 10, what=f"{mode}: warmd to talk to the fake Redis")
            for n in names[mode]:
                wait_for(lambda: warm_times(c, marker(n), c.log()), 10,
                         what=f"{mode}: {n} warmed (fail open)")
            wait_for(lambda: node.cluster_status()["degraded"], 4 * LEASE + 5,
                     what=f"{mode}: degraded in status")
            self.assertFalse(node.cluster_status()["connected"])
        # A while later: all still up, answering at once, warming on time.
        sleep_until(t0 + TTL + 5)
        for mode in self.MODES:
            node = c.nodes[mode]
            self.assertIsNone(node.proc.poll(), f"{mode}: warmd died\n{node.log()[-3000:]}")
            for _ in range(5):
                t = time.monotonic()
                self.assertEqual(node.ctl("ping")[0], 0)
                self.assertLess(time.monotonic() - t, 1.0, f"{mode}: slow ping")
            t = time.monotonic()
            st = node.status()
            self.assertLess(time.monotonic() - t, 2.0, f"{mode}: slow status")
            self.assertTrue(st["daemon"]["cluster"]["degraded"])
            self.assertIn("cluster: Redis unreachable", node.log())
            self.assertRegex(node.ctl("metrics")[1], r"(?m)^warmd_cluster_degraded 1$")
            log = c.log()
            for n in names[mode]:
                self.assertGreaterEqual(len(warm_times(c, marker(n), log)), 2,
                                        f"{mode}: {n} not warmed again\n" + c.timeline(
                                            [marker(n)], log) + "\n" + node.log()[-3000:])
            self.assertLess(time.time() - warm_times(c, marker(names[mode][0]), log)[-1], TTL)


if __name__ == "__main__":
    unittest.main()
