/**
 * A software TPM 2.0 behind tpm2-pkcs11, as a device has it, for tests:
 *
 *   tpm2-pkcs11 (libtpm2_pkcs11.so) ──tabrmd TCTI, private session D-Bus──> tpm2-abrmd
 *        │ TPM2_PKCS11_STORE (SQLite, wrapped keys)                              │ swtpm TCTI
 *        v                                                                       v
 *   <dir>/store                                          swtpm (socket mode, 127.0.0.1, <dir>/state)
 *
 * tpm2-abrmd is the resource manager: without one tpm2-pkcs11 runs out of TPM object contexts.
 * Everything runs on a dbus-daemon of its own (never the system bus) and never touches
 * /dev/tpm*. Each process is started with Deno.Command and stopped by its handle.
 *
 * `env` is what a process that loads the module needs (merge it into a child's environment, or
 * `Deno.env.set` each entry before an in-process module load: tpm2-pkcs11 and the TCTI read
 * them at C_Initialize).
 */
import { printedPublicKey, runCli } from "./cli.ts";
import { freePort, waitForPort } from "./ports.ts";
import { run, TestProcess } from "./process.ts";

export const TPM2_PKCS11_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so";

const TCTI = "tabrmd:bus_type=session";

export interface TpmToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

/** A key made in the TPM by `hsm create-key`. */
export interface TpmKey {
  /** `pkcs11:token=...;object=...;id=...;type=private`, as create-key printed it. */
  readonly uri: string;
  /** DER SPKI of the public key create-key printed. */
  readonly spki: Uint8Array;
}

/** Dictionary-attack protection (TPM 2.0 Part 1, section 19.8; TPM2_DictionaryAttackParameters). */
export interface LockoutParameters {
  /** Failed authorisations before the TPM locks out (TPM2_PT_MAX_AUTH_FAIL). */
  maxTries: number;
  /** Seconds after which one failure is forgotten (TPM2_PT_LOCKOUT_INTERVAL). */
  recoverySeconds: number;
  /** Seconds before the lockout hierarchy may be tried again after a failure. */
  lockoutRecoverySeconds: number;
}

/**
 * Lenient parameters for tests that do not test the lockout: a TPM that loses power while a
 * key is in use counts that as a failed authorisation (section 19.8.6), and the tests restart
 * it on purpose.
 */
const LENIENT: LockoutParameters = { maxTries: 100, recoverySeconds: 1, lockoutRecoverySeconds: 1 };

export class SoftTpm implements AsyncDisposable {
  #swtpm?: TestProcess;
  #abrmd?: TestProcess;
  readonly #bus: TestProcess;
  #storeInitialised = false;
  /** swtpm's TPM command port; its control port is the next one (the swtpm TCTI's rule). */
  readonly port = freePortPair();

  private constructor(
    readonly dir: string,
    bus: TestProcess,
    readonly busAddress: string,
    readonly echo: boolean,
  ) {
    this.#bus = bus;
  }

  /** Starts swtpm, a private bus and tpm2-abrmd under `dir` (which must exist). */
  static async start(dir: string, { echo = false } = {}): Promise<SoftTpm> {
    await Deno.mkdir(`${dir}/state`, { recursive: true });
    await Deno.mkdir(`${dir}/store`, { recursive: true });
    const busConfig = `${dir}/bus.conf`;
    await Deno.writeTextFile(busConfig, busConfigXml(`${dir}/bus.socket`));
    const bus = new TestProcess(
      "dbus-daemon",
      ["--config-file", busConfig, "--nofork", "--print-address=1"],
      { echo },
    );
    let tpm: SoftTpm | undefined;
    try {
      const address = (await bus.waitForOutput(/^(unix:path=[^\n]+)$/m))[1];
      tpm = new SoftTpm(dir, bus, address, echo);
      await tpm.startTpm();
      await tpm.startResourceManager();
      await tpm.setLockoutParameters(LENIENT);
      return tpm;
    } catch (e) {
      if (tpm) await tpm.stop();
      else await bus.stop();
      throw e;
    }
  }

  /** Environment for tpm2-pkcs11, tpm2_ptool and tpm2-tools. */
  get env(): Record<string, string> {
    return {
      DBUS_SESSION_BUS_ADDRESS: this.busAddress,
      TPM2_PKCS11_TCTI: TCTI,
      TPM2TOOLS_TCTI: TCTI,
      TPM2_PKCS11_STORE: `${this.dir}/store`,
    };
  }

  /**
   * Sets `env` in this process, for an in-process module load, until disposed. The tabrmd TCTI
   * talks D-Bus through GLib's shared session connection, which outlives the module: a process
   * reaches one bus only, so all in-process TPM tests share one SoftTpm (keys_tpm_test.ts).
   */
  processEnv(): Disposable {
    const previous = Object.keys(this.env).map((k) => [k, Deno.env.get(k)] as const);
    for (const [k, v] of Object.entries(this.env)) Deno.env.set(k, v);
    return {
      [Symbol.dispose]() {
        for (const [k, v] of previous) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      },
    };
  }

  /** Powers the TPM on: swtpm on its port, with the state it had (TPM2_Startup done by swtpm). */
  async startTpm(): Promise<void> {
    this.#swtpm = new TestProcess("swtpm", [
      "socket",
      "--tpm2",
      "--tpmstate",
      `dir=${this.dir}/state`,
      "--server",
      `type=tcp,port=${this.port},bindaddr=127.0.0.1`,
      "--ctrl",
      `type=tcp,port=${this.port + 1},bindaddr=127.0.0.1`,
      "--flags",
      "not-need-init,startup-clear",
    ], { echo: this.echo });
    await Promise.race([
      waitForPort(this.port),
      this.#swtpm.exited.then(() => {
        throw new Error(`swtpm exited at start:\n${this.#swtpm?.output}`);
      }),
    ]);
  }

  /** Pulls the TPM's plug: swtpm is killed (no orderly TPM2_Shutdown). */
  async stopTpm(): Promise<void> {
    await this.#swtpm?.stop("SIGKILL");
  }

  /** Starts tpm2-abrmd on the private bus; resolves once a TPM command goes through it. */
  async startResourceManager(): Promise<void> {
    const args = ["--session", `--tcti=swtpm:host=127.0.0.1,port=${this.port}`];
    if (Deno.uid() === 0) args.push("--allow-root");
    this.#abrmd = new TestProcess("tpm2-abrmd", args, {
      env: { DBUS_SESSION_BUS_ADDRESS: this.busAddress },
      echo: this.echo,
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = await this.tool("tpm2_getrandom", ["4"], { allowFailure: true });
      if (probe.code === 0) return;
      if (!this.#abrmd.running || Date.now() > deadline) {
        const abrmd = this.#abrmd.output;
        await this.#abrmd.stop();
        throw new Error(`tpm2-abrmd did not come up:\n${abrmd}\n${probe.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stopResourceManager(): Promise<void> {
    await this.#abrmd?.stop("SIGTERM");
  }

  /** A tpm2-tools command (`tpm2_getcap`, ...) through the resource manager. */
  tool(
    name: string,
    args: string[],
    opts: { allowFailure?: boolean } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(name, args, { env: this.env, allowFailure: opts.allowFailure });
  }

  /** `tpm2_ptool init` (once per store) and `addtoken`: a tpm2-pkcs11 token with a user PIN. */
  async initToken(label: string, { pin = "123456", soPin = "12345678" } = {}): Promise<TpmToken> {
    const store = `--path=${this.dir}/store`;
    if (!this.#storeInitialised) await run("tpm2_ptool", ["init", store], { env: this.env });
    this.#storeInitialised = true;
    await run("tpm2_ptool", [
      "addtoken",
      "--pid=1",
      `--label=${label}`,
      `--userpin=${pin}`,
      `--sopin=${soPin}`,
      store,
    ], { env: this.env });
    return { label, pin, soPin };
  }

  /**
   * A key in the token, made as a user makes it: `hsm-bridge hsm create-key ARGS --label LABEL`
   * with a config that names tpm2-pkcs11 and the token's PIN.
   */
  async createKey(token: TpmToken, args: string[], label: string): Promise<TpmKey> {
    const config = `${this.dir}/create-key.toml`;
    await Deno.writeTextFile(
      config,
      `[device.cryptoki]\nmode = "module"\nmodule_path = "${TPM2_PKCS11_MODULE}"\n` +
        `pin = "${token.pin}"\n`,
    );
    const r = await runCli(
      ["--config", config, "hsm", "create-key", ...args, "--label", label],
      { env: this.env },
    );
    if (r.code !== 0) throw new Error(`hsm create-key ${args.join(" ")}:\n${r.stdout}${r.stderr}`);
    const uri = /^URI: (\S+)$/m.exec(r.stdout);
    if (!uri) throw new Error(`no URI in the output of hsm create-key:\n${r.stdout}`);
    return { uri: uri[1], spki: printedPublicKey(r.stdout) };
  }

  /** TPM2_DictionaryAttackParameters (lockout hierarchy, empty authorisation). */
  async setLockoutParameters(p: LockoutParameters): Promise<void> {
    await this.tool("tpm2_dictionarylockout", [
      "--setup-parameters",
      `--max-tries=${p.maxTries}`,
      `--recovery-time=${p.recoverySeconds}`,
      `--lockout-recovery-time=${p.lockoutRecoverySeconds}`,
    ]);
  }

  /** Whether the TPM is in dictionary-attack lockout (TPM2_PT_PERMANENT inLockout). */
  async inLockout(): Promise<boolean> {
    const cap = await this.tool("tpm2_getcap", ["properties-variable"]);
    const m = /inLockout:\s+(\d)/.exec(cap.stdout);
    if (!m) throw new Error(`no inLockout in tpm2_getcap's output:\n${cap.stdout}`);
    return m[1] === "1";
  }

  /**
   * `count` logins with a wrong PIN to the token, by another program (OpenSC's pkcs11-tool):
   * the TPM counts each as a failed authorisation, whoever makes it.
   */
  async failLogins(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const r = await run("pkcs11-tool", [
        "--module",
        TPM2_PKCS11_MODULE,
        "--login",
        "--pin",
        `99999${i}`,
        "--list-objects",
      ], { env: this.env, allowFailure: true });
      if (!/CKR_PIN_INCORRECT|CKR_PIN_LOCKED/.test(r.stderr)) {
        throw new Error(`pkcs11-tool with a wrong PIN: ${r.stdout}${r.stderr}`);
      }
    }
  }

  /** `tpm2_dictionarylockout --clear-lockout`: what an administrator does to end a lockout. */
  async clearLockout(): Promise<void> {
    await this.tool("tpm2_dictionarylockout", ["--clear-lockout"]);
  }

  async stop(): Promise<void> {
    await this.#abrmd?.stop("SIGTERM");
    await this.#swtpm?.stop("SIGTERM");
    await this.#bus.stop("SIGTERM");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A free port whose successor is free too. */
function freePortPair(): number {
  for (;;) {
    const port = freePort();
    try {
      Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
      return port;
    } catch { /* taken: try another */ }
  }
}

/** A session bus of our own: one socket, no service activation, everyone may talk to anyone. */
function busConfigXml(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}
