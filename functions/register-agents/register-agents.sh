#!/usr/bin/env bash
# Registers a session-lab's mock on-premises hosts with their hybrid activations (seed steps
# 3.11-3.14), from the lab's bootstrap host, through Run Command (AWS-RunShellScript) as root.
#
# Inputs, none of them secret, set as environment variables by the command's first line:
#   REGION         the Region of the activations and the parameters
#   KEY_PARAMETER  the SSM name of the SecureString holding the SSH private key
#   HOSTS          one line per host: role,privateIp,activationId,codeParameterName (may be empty)
#
# The secrets (private key, activation codes) are read from Parameter Store by name, kept in a
# mode-600 temporary file or a variable, handed to the host on ssh's stdin (never on a command
# line here) and never printed. Output: "REGISTERED <role> <mi-id>" per host; a failure is reported
# on stderr naming the host, the other hosts are still attempted, and the script exits 1.
set -euo pipefail

: "${REGION:?REGION is required}"
: "${KEY_PARAMETER:?KEY_PARAMETER is required}"
: "${HOSTS?HOSTS is required}"
# A mock host may still be booting when its sshd is first tried: ssh exit code 255 is retried.
SSH_ATTEMPTS="${SSH_ATTEMPTS:-6}"
SSH_RETRY_SECONDS="${SSH_RETRY_SECONDS:-10}"

read_secret() {
  aws ssm get-parameter --name "$1" --with-decryption --query Parameter.Value --output text --region "$REGION" </dev/null
}

KEYFILE="$(mktemp)"
trap 'rm -f "$KEYFILE"' EXIT
chmod 600 "$KEYFILE"
read_secret "$KEY_PARAMETER" >"$KEYFILE"

# register_on IP CODE ACTIVATION_ID: runs the agent's registration on the host as root. The host's
# script reaches ssh through a pipe from the printf builtin, so the code is on no command line and
# in no file here. -y answers the agent's "already registered, override?" so a re-run works (its
# stdin is not a terminal). AL2023 is systemd: systemctl, not upstart's stop/start.
register_on() {
  printf '%s\n' \
    'set -euo pipefail' \
    'systemctl stop amazon-ssm-agent' \
    "amazon-ssm-agent -register -code \"$2\" -id \"$3\" -region \"$REGION\" -y" \
    'systemctl start amazon-ssm-agent' |
    ssh -i "$KEYFILE" -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10 ec2-user@"$1" sudo bash -s
}

# register_host ROLE IP ACTIVATION_ID CODE_PARAMETER: registers one host; prints its REGISTERED line,
# or a FAILED line naming it on stderr and returns 1.
register_host() {
  local role="$1" ip="$2" activation_id="$3" code_parameter="$4"
  local code output status attempt managed_id
  if ! code="$(read_secret "$code_parameter")"; then
    echo "FAILED $role: cannot read the activation code parameter $code_parameter" >&2
    return 1
  fi
  # Activation codes are base64-like; anything else would break the host's command line.
  if [[ ! "$code" =~ ^[A-Za-z0-9+/=]+$ ]]; then
    echo "FAILED $role: the value of $code_parameter is not an activation code" >&2
    return 1
  fi
  attempt=1
  while :; do
    status=0
    output="$(register_on "$ip" "$code" "$activation_id")" || status=$?
    if [[ "$status" -ne 255 || "$attempt" -ge "$SSH_ATTEMPTS" ]]; then
      break
    fi
    attempt=$((attempt + 1))
    sleep "$SSH_RETRY_SECONDS"
  done
  if [[ "$status" -ne 0 ]]; then
    echo "FAILED $role: registration on $ip exited with $status" >&2
    return 1
  fi
  # The agent prints "Successfully registered the instance with AWS SSM using Managed instance-id: mi-...".
  managed_id="$(grep -oE 'mi-[0-9a-f]{17}' <<<"$output" | tail -n 1 || true)"
  if [[ -z "$managed_id" ]]; then
    echo "FAILED $role: the agent on $ip reported no managed instance id" >&2
    return 1
  fi
  echo "REGISTERED $role $managed_id"
}

# The hosts are independent: they are registered side by side (each is an ssh session and an agent
# registration of several seconds), and their lines are printed in the order of HOSTS.
OUTDIR="$(mktemp -d)"
trap 'rm -rf "$KEYFILE" "$OUTDIR"' EXIT
pids=()
while IFS=, read -r role ip activation_id code_parameter; do
  [[ -n "$role" ]] || continue
  register_host "$role" "$ip" "$activation_id" "$code_parameter" \
    >"$OUTDIR/${#pids[@]}.out" 2>"$OUTDIR/${#pids[@]}.err" &
  pids+=("$!")
done <<<"$HOSTS"
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "$OUTDIR/$i.out"
  cat "$OUTDIR/$i.err" >&2
done
exit "$failed"
