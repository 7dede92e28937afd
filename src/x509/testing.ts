/**
 * For tests only: @peculiar/x509, to generate and inspect certificates and requests. Nothing in
 * src imports it, so the program never loads it (with asn1js, tsyringe and reflect-metadata it
 * costs about 10 MB of RSS and 60-100 ms of start-up).
 */
export { x509 } from "./_peculiar.ts";
