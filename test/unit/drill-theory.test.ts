import test from 'ava';
import { ConfigError } from '../../lib/types.ts';
import { failoverTheory } from '../../lib/drill/modes.ts';
import { failbackTheory, masterDownIntervalMs, skewTimeMs } from '../../lib/drill/theory.ts';

const lab = { advertInt: 1, vrrpVersion: 2 as const, backupPriority: 50, masterPriority: 100 };
const fast = { advertInt: 0.1, vrrpVersion: 3 as const, backupPriority: 50, masterPriority: 100 };

test('skew and master_down_interval follow RFC 3768 (v2: seconds, not scaled) and RFC 5798 (v3: scaled)', (t) => {
  t.is(skewTimeMs(1, 50, 2), (206 / 256) * 1000); // 804.6875
  t.is(skewTimeMs(5, 50, 2), (206 / 256) * 1000, 'v2 skew does not grow with advert_int');
  t.is(skewTimeMs(1, 50, 3), (206 / 256) * 1000);
  t.is(skewTimeMs(0.1, 50, 3), 80.46875);
  t.is(masterDownIntervalMs(1, 50, 2), 3804.6875);
  t.is(masterDownIntervalMs(0.1, 50, 3), 380.46875);
  t.is(masterDownIntervalMs(1, 50, 2, 2), 2804.6875, 'keepalived down_timer_adverts');
});

test('failover theory per mode (the lab measured stop 1.1 s, link/poweroff 3.3–3.6 s, kill no outage)', (t) => {
  const stop = failoverTheory({ ...lab, mode: 'stop' });
  t.is(stop.trigger, 'graceful');
  t.is(stop.theoryMs, 804.6875);
  t.is(stop.outageMaxMs, 804.6875);
  t.regex(stop.formula, /priority-0 advert/);

  for (const mode of ['link', 'poweroff'] as const) {
    const hard = failoverTheory({ ...lab, mode });
    t.is(hard.trigger, 'hard');
    t.is(hard.theoryMs, 3804.6875);
    t.is(hard.takeoverMinMs, 2804.6875, 'the last advert came up to one interval before the failure');
    t.true(3300 >= hard.outageMinMs && 3600 <= hard.outageMaxMs, 'the lab figures lie inside the window');
  }

  const kill = failoverTheory({ ...lab, mode: 'kill' });
  t.is(kill.outageMaxMs, 0);
  t.is(kill.takeoverMaxMs, 3804.6875);
  t.is(kill.theoryMs, 3804.6875);

  t.is(failoverTheory({ ...fast, mode: 'link' }).theoryMs, 380.46875);
  t.is(failoverTheory({ ...fast, mode: 'stop' }).theoryMs, 80.46875);
});

test('failback theory: the restored master waits for its own down timer; the address owner does not', (t) => {
  const back = failbackTheory(lab);
  t.is(back.theoryMs, 3000 + (156 / 256) * 1000);
  t.is(back.outageMaxMs, 0);
  t.is(failbackTheory({ ...lab, masterPriority: 255 }).theoryMs, 0);
  t.throws(() => failbackTheory({ advertInt: 1, vrrpVersion: 2, backupPriority: 50 }), { instanceOf: ConfigError, message: /masterPriority/ });
});

test('failback theory with preempt_delay: the longer of the down timer and the delay', (t) => {
  t.is(failbackTheory({ ...lab, preemptDelayS: 2 }).theoryMs, 3000 + (156 / 256) * 1000, 'a delay shorter than the down timer changes nothing');
  const delayed = failbackTheory({ ...lab, preemptDelayS: 10 });
  t.is(delayed.theoryMs, 10_000);
  t.regex(delayed.formula, /held back by preempt_delay 10 s/);
  t.throws(() => failbackTheory({ ...lab, preemptDelayS: 1.5 }), { instanceOf: ConfigError, message: /preemptDelayS = 1\.5/ });
});

test('impossible configs are refused, naming the key and the value', (t) => {
  const cases: Array<[object, RegExp]> = [
    [{ ...lab, advertInt: 0.1 }, /advertInt = 0\.1: VRRPv2 carries whole seconds/],
    [{ ...lab, advertInt: 0 }, /advertInt = 0:/],
    [{ ...lab, vrrpVersion: 4 }, /vrrpVersion = 4/],
    [{ ...lab, backupPriority: 255 }, /backupPriority = 255/],
    [{ ...lab, masterPriority: 40 }, /masterPriority = 40: must be an integer above backupPriority \(50\)/],
    [{ ...fast, advertInt: 0.001 }, /at least 0\.01/],
  ];
  for (const [config, message] of cases) {
    t.throws(() => failoverTheory({ ...(config as typeof lab), mode: 'link' }), { instanceOf: ConfigError, message });
  }
});
