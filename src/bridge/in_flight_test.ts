import assert from "node:assert/strict";
import { MqttPublishError } from "../mqtt/mod.ts";
import { type Exit, InFlight } from "./in_flight.ts";
import type { TargetLink } from "./links.ts";

class FakeTarget implements TargetLink {
  isOpen = true;
  answers: ((e?: MqttPublishError) => void)[] = [];
  publish(_t: string, _p: Uint8Array, _o: unknown, callback?: (e?: MqttPublishError) => void) {
    this.answers.push(callback!);
  }
}

interface Msg {
  name: string;
}

function tracked() {
  const exits: [string, Exit][] = [];
  const set = new InFlight<Msg>((m, exit) => exits.push([m.name, exit]));
  const send = (name: string, target: TargetLink): Msg => {
    const m = { name };
    set.publish(m, target, "t", new Uint8Array(), { qos: 1, retain: false });
    return m;
  };
  return { set, exits, send };
}

/** Whether `idle()` resolved by the end of this microtask queue. */
async function isIdle(set: InFlight<Msg>): Promise<boolean> {
  let idle = false;
  set.idle().then(() => idle = true);
  await new Promise((r) => setTimeout(r, 0));
  return idle;
}

Deno.test("InFlight settles an acked message once and goes idle", async () => {
  const { set, exits, send } = tracked();
  const target = new FakeTarget();
  send("a", target);
  assert.equal(set.size, 1);
  const waiting = set.idle();
  target.answers[0]();
  target.answers[0](); // a second answer changes nothing
  await waiting;
  assert.deepEqual(exits, [["a", "acked"]]);
  assert.equal(set.size, 0);
});

Deno.test("InFlight settles a message the target refused (MQTT 5 reason code) as refused", async () => {
  const { set, exits, send } = tracked();
  const target = new FakeTarget();
  send("a", target);
  send("b", target);
  target.answers[0](
    new MqttPublishError("Publish error: Not authorized", { reason: "refused", reasonCode: 135 }),
  );
  assert.deepEqual(exits, [["a", "refused"]]);
  assert.equal(await isIdle(set), false, "b is still in flight");
  target.answers[1]();
  assert.equal(await isIdle(set), true);
});

Deno.test("InFlight settles what a lost connection did not ack as lost, in publish order", async () => {
  const { set, exits, send } = tracked();
  const first = new FakeTarget();
  const second = new FakeTarget();
  send("a", first);
  send("b", second);
  send("c", first);
  // A lost connection's answer is not an exit by itself; targetLost() is.
  first.isOpen = false;
  first.answers[0](new MqttPublishError("Connection closed", { reason: "connection-lost" }));
  assert.deepEqual(exits, []);
  set.targetLost(first);
  assert.deepEqual(exits, [["a", "lost"], ["c", "lost"]]);
  assert.equal(await isIdle(set), false, "b is in flight on the other connection");
  second.answers[0]();
  assert.equal(await isIdle(set), true);
});

Deno.test("InFlight ignores a late answer for a message sent again on a new connection", () => {
  const { set, exits, send } = tracked();
  const first = new FakeTarget();
  const m = send("a", first);
  set.targetLost(first);
  const second = new FakeTarget();
  set.publish(m, second, "t", new Uint8Array(), { qos: 1, retain: false });
  first.answers[0](); // the old connection's PUBACK arriving late
  assert.deepEqual(exits, [["a", "lost"]]);
  assert.equal(set.size, 1);
  second.answers[0]();
  assert.deepEqual(exits, [["a", "lost"], ["a", "acked"]]);
});

Deno.test("InFlight.stop() settles everything as stopped and wakes idle() waiters", async () => {
  const { set, exits, send } = tracked();
  const target = new FakeTarget();
  send("a", target);
  send("b", target);
  const waiting = set.idle();
  set.stop();
  await waiting;
  assert.deepEqual(exits, [["a", "stopped"], ["b", "stopped"]]);
  target.answers[0](); // a PUBACK after the stop: ignored
  assert.deepEqual(exits.length, 2);
});
