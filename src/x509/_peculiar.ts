/**
 * The one place @peculiar/x509 is imported from. Its dependency injection (tsyringe) needs the
 * Reflect metadata polyfill loaded first, and it needs WebCrypto set as its provider; doing
 * both here means no other module can get the order wrong.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

export { x509 };
