/**
 * Socket mode (device.cryptoki.mode = socket): tedge-p11-server's protocol. The frames and their
 * postcard encoding are pure code, tested byte for byte against thin-edge's golden vectors.
 */
export {
  ALGORITHM,
  decodeFrame,
  describeFrame,
  encodeFrame,
  type Frame1,
  FrameError,
  type FrameOf,
  frameTag,
  type FrameType,
  type KeyDetails,
  type KeyTypeParams,
  SIG_SCHEMES,
  type TokenDetails,
} from "./frame.ts";
export { decodeServerPublicKey, encodeServerPublicKey } from "./public_key.ts";
