import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { AckBatcher, encodePubacks } from "./acks.ts";

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

Deno.test("encodePubacks() writes 4-byte PUBACKs back to back (MQTT 3.1.1 section 3.4)", () => {
  assert.deepEqual(
    [...encodePubacks([1, 0x1234, 0xFFFF])],
    [0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x12, 0x34, 0x40, 0x02, 0xFF, 0xFF],
  );
  assert.equal(encodePubacks([]).length, 0);
});

Deno.test("encodePubacks() rejects an id outside 1 to 65535", () => {
  for (const id of [0, 0x10000, -1, 1.5]) {
    assert.throws(() => encodePubacks([id]), /Invalid PUBACK packet identifier/);
  }
});

Deno.test("AckBatcher writes the PUBACKs of one event-loop turn together", async () => {
  const writes: number[][] = [];
  const acks = new AckBatcher((bytes) => writes.push([...bytes]));
  acks.add(1);
  acks.add(2);
  await Promise.resolve();
  acks.add(3); // a later microtask of the same turn
  assert.equal(writes.length, 0);
  await nextTurn();
  assert.deepEqual(writes, [[0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 0, 3]]);
  acks.add(4);
  await nextTurn();
  assert.deepEqual(writes[1], [0x40, 2, 0, 4]);
});

Deno.test("AckBatcher flush() writes at once; clear() forgets; invalid ids get no PUBACK", async () => {
  const writes: number[][] = [];
  const acks = new AckBatcher((bytes) => writes.push([...bytes]));
  acks.add(7);
  acks.add(0);
  acks.flush();
  assert.deepEqual(writes, [[0x40, 2, 0, 7]]);
  acks.add(8);
  acks.clear();
  assert.equal(acks.queued, 0);
  await nextTurn();
  assert.equal(writes.length, 1);
});
