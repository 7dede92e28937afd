/**
 * opencryptoki's soft token (libpkcs11_sw.so behind libopencryptoki.so) for tests.
 *
 * opencryptoki 3.8 (Debian 12) has fixed paths: its configuration (/etc/opencryptoki), the token
 * store (/var/lib/opencryptoki), lock files (/run/lock/opencryptoki) and the socket of its slot
 * daemon pkcsslotd (/run/pkcsslotd.socket), which forks into the background and shares memory
 * with the library. So each command that uses the token runs in namespaces of its own
 * (`unshare`: mount, IPC, PID): `<dir>`'s directories are bind-mounted over the fixed ones, a
 * tmpfs over /run, and a pkcsslotd of its own starts before the command. When the command ends,
 * the namespace's first process exits and the kernel ends pkcsslotd with it: nothing outlives
 * the command, and nothing outside the namespace sees any of it. The token's state stays in
 * `<dir>` from one command to the next.
 */
import { run } from "./process.ts";

export const OPENCRYPTOKI_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so";

/** The soft token's slot (the only one in our configuration). */
const SLOT = 3;
/** What `pkcsconf -I` expects as the SO PIN of a new token. */
const FACTORY_SO_PIN = "87654321";

/** Mounts `$1`'s directories over opencryptoki's, starts pkcsslotd, then runs the rest. */
const NAMESPACE_SCRIPT = `
set -e
d=$1; shift
mount --bind "$d/etc" /etc/opencryptoki
mount --bind "$d/lib" /var/lib/opencryptoki
mount -t tmpfs tmpfs /run
mkdir -p /run/lock/opencryptoki/swtok
chgrp -R pkcs11 /run/lock/opencryptoki /var/lib/opencryptoki
chmod -R g+rwX /run/lock/opencryptoki /var/lib/opencryptoki
pkcsslotd
"$@"
`;

export interface OckToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

export class OpenCryptoki {
  readonly module = OPENCRYPTOKI_MODULE;

  private constructor(readonly dir: string) {}

  /** An empty soft token store under `dir` (which must exist). */
  static async create(dir: string): Promise<OpenCryptoki> {
    await Deno.mkdir(`${dir}/etc`, { recursive: true });
    // The soft token keeps its objects in TOK_OBJ; without it every object is silently lost.
    await Deno.mkdir(`${dir}/lib/swtok/TOK_OBJ`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/etc/opencryptoki.conf`,
      `version opencryptoki-3.1\n\nslot ${SLOT}\n{\nstdll = libpkcs11_sw.so\n}\n`,
    );
    return new OpenCryptoki(dir);
  }

  /** The command line that runs `argv` with this token available. */
  wrap(argv: string[]): string[] {
    return [
      "unshare",
      "--mount",
      "--ipc",
      "--pid",
      "--fork",
      "--mount-proc",
      "--propagation",
      "private",
      "sh",
      "-c",
      NAMESPACE_SCRIPT,
      "sh",
      this.dir,
      ...argv,
    ];
  }

  /** Runs `argv` with this token available; throws with its output when it fails. */
  async run(argv: string[], opts: { stdin?: string } = {}): Promise<string> {
    const [cmd, ...args] = this.wrap(argv);
    return (await run(cmd, args, { stdin: opts.stdin })).stdout;
  }

  /** Initialises the token (`pkcsconf`): label, SO PIN, user PIN. */
  async initToken(
    label: string,
    { pin = "123456", soPin = "12345678" } = {},
  ): Promise<OckToken> {
    const c = String(SLOT);
    // -I asks for the label on stdin; each pkcsconf is one namespace, one pkcsslotd.
    await this.run(["pkcsconf", "-I", "-c", c, "-S", FACTORY_SO_PIN], { stdin: `${label}\n` });
    await this.run(["pkcsconf", "-P", "-c", c, "-S", FACTORY_SO_PIN, "-n", soPin]);
    await this.run(["pkcsconf", "-u", "-c", c, "-S", soPin, "-n", pin]);
    return { label, pin, soPin };
  }
}
