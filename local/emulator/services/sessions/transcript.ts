import {
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import type { SessionRecord, TranscriptEntry } from './records.js';

/** A session's transcript as the agent writes it to CloudWatch Logs: its records, events and stream. */

/** The agent's streamed record time format (Go's "2006-01-02 15:04:05", UTC). */
const agentTime = (date: Date) =>
  date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '');

const PROMPT = 'sh-5.2$ ';

function entryLines(entry: TranscriptEntry): string[] {
  const lines = [`${PROMPT}${entry.input}`];
  const output = entry.output.replace(/\n$/, '');
  if (output) lines.push(...output.split('\n'));
  return lines;
}

/** Bytes of one log event's text: CloudWatch allows 256 KB, with room left for JSON framing. */
const MAX_EVENT_BYTES = 200_000;
/** A single line longer than this is cut (4-byte characters keep it under the event limit). */
const MAX_LINE_CHARS = 50_000;

/**
 * Log events for transcript entries: streamed sessions send the agent's JSON records, the others
 * upload the terminal text at the end. An event holds at most 256 KB, so long output is split.
 */
function logEvents(session: SessionRecord, entries: TranscriptEntry[]): InputLogEvent[] {
  const events: InputLogEvent[] = [];
  for (const entry of entries) {
    const chunks: string[][] = [[]];
    let size = 0;
    for (const whole of entryLines(entry)) {
      const line = whole.length > MAX_LINE_CHARS ? whole.slice(0, MAX_LINE_CHARS) : whole;
      const bytes = Buffer.byteLength(line) + 1;
      if (size + bytes > MAX_EVENT_BYTES && chunks[chunks.length - 1]!.length > 0) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1]!.push(line);
      size += bytes;
    }
    for (const chunk of chunks) {
      const message = session.prefs.streaming
        ? JSON.stringify({
            eventVersion: '1.0',
            eventTime: agentTime(entry.at),
            awsRegion: session.region,
            target: { id: session.target },
            userIdentity: { arn: session.caller.arn },
            runAsUser: session.osUser,
            sessionId: session.id,
            sessionData: chunk,
          })
        : chunk.join('\n');
      events.push({ timestamp: entry.at.getTime(), message });
    }
  }
  return events;
}

/** Writes the transcript entries not yet in the log group, to the stream named after the session. */
export async function writeTranscript(session: SessionRecord): Promise<void> {
  const { logs } = session;
  if (!session.logGroup || !logs || session.written >= session.transcript.length) return;
  if (!session.streamCreated) {
    try {
      await logs.send(
        new CreateLogStreamCommand({ logGroupName: session.logGroup, logStreamName: session.id }),
      );
    } catch (err) {
      if ((err as Error).name !== 'ResourceAlreadyExistsException') throw err;
    }
    session.streamCreated = true;
  }
  const entries = session.transcript.slice(session.written);
  const events = logEvents(session, entries);
  // PutLogEvents takes at most 10,000 events and 1 MB per call.
  for (let i = 0; i < events.length;) {
    let bytes = 0;
    let j = i;
    // Each event counts its UTF-8 size plus 26 bytes.
    while (
      j < events.length &&
      j - i < 10_000 &&
      bytes + Buffer.byteLength(events[j]!.message!) + 26 < 1_000_000
    ) {
      bytes += Buffer.byteLength(events[j]!.message!) + 26;
      j++;
    }
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: session.logGroup,
        logStreamName: session.id,
        logEvents: events.slice(i, Math.max(j, i + 1)),
      }),
    );
    i = Math.max(j, i + 1);
  }
  session.written += entries.length;
  session.outputUrl = `https://console.aws.amazon.com/cloudwatch/home?region=${session.region}#logEventViewer:group=${encodeURIComponent(session.logGroup)};stream=${session.id}`;
}
