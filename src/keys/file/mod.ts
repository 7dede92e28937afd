/** File keys: PEM private keys signed with WebCrypto. */
export { loadFileKey, MIN_FILE_RSA_BITS, readPrivateKeyPem } from "./file_key.ts";
