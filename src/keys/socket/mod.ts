/**
 * Socket mode (device.cryptoki.mode = socket): tedge-p11-server's protocol, and the device key
 * and `hsm` commands through it. The frames and their postcard encoding are pure code, tested
 * byte for byte against thin-edge's golden vectors. Nothing here loads a PKCS#11 module.
 */
export {
  ALGORITHM,
  type CreateKeyFields,
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
export { P11Client, type P11ClientOptions } from "./client.ts";
export { P11ConnectionError, P11ServerError, P11VersionError } from "./errors.ts";
export { MAX_FRAME_BYTES } from "./_exchange.ts";
export { openSocketKey, SOCKET_SCHEMES, type SocketKeyOptions } from "./socket_key.ts";
export {
  createKeyThrough,
  keyTypeParams,
  listKeysThrough,
  listTokensThrough,
  type SocketAccess,
} from "./admin.ts";
