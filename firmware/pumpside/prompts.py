"""Customer messages in Chinese and English; the display shows both.

One text, a line a message (`key|中文|English`; `#` lines are notes), searched when a
message is shown: the catalogue costs its bytes once, not a dict of tuples of strings
(on a board that runs .mpy files the constants live in the heap; 63 messages as a dict
take 14.8 KB on the unix port, this text about 4 KB).
"""

_TEXT = """
ready|请选择预置|Preset: V litres A amount F fill
enter_volume|请输入升数|Enter litres, E to confirm
enter_amount|请输入金额|Enter amount, E to confirm
lift|请提枪加油|Lift the nozzle
fuelling|加油中|Fuelling
done|加油完毕 谢谢|Sale complete, thank you
stopped|加油已停止|Fuelling stopped
locked|油枪已锁定 请联系维护|Pump locked - call service
closed|暂停服务|Pump closed
service_pin|请输入维护密码|Service PIN, E to confirm
wrong_pin|密码错误|Wrong PIN
pin_wait|密码错误过多 请稍候|Too many wrong PINs - wait
unlocked|油枪已解锁|Pump unlocked
service|维护模式|Service mode
software_id|软件版本 标识|Software version, id
refused|预置无效|Preset refused
last_sale|上笔交易|Last sale
power|电源故障|Power failure
offline_count|未上传交易过多 暂停加油|Offline sales limit - sync needed
offline_amount|未上传金额过大 暂停加油|Offline amount limit - sync needed
offline_age|交易过久未上传 暂停加油|Offline too long - sync needed
storage_full|存储将满 暂停加油|Storage full - sync needed
escapes_full|灰卡记录已满 暂停加油|Grey card list full - sync needed
# the card sale
insert_card|请插卡|Insert your fuel card
reading_card|读卡中 请勿拔卡|Reading card - do not remove
enter_pin|请输入密码 按确认|Enter PIN, E to confirm
choose_preset|请选择 V升数 A金额 F加满|Preset: V litres A amount F fill
locking|处理中 请勿拔卡|Please wait - do not remove card
lift_nozzle|请提枪加油|Lift the nozzle
settling|结算中 请勿拔卡|Settling - do not remove card
settling_grey|灰卡补扣中|Settling earlier sale
take_receipt|请取卡和凭条|Take your card and receipt
rewards_asking|积分查询中|Checking your points
rewards_menu|积分兑换: 按序号 E加油|Rewards: key a number, E fuel
rewards_redeeming|兑换中|Redeeming
redeemed|已兑换 请选择 V升数 A金额 F加满|Redeemed - V litres A amount F fill
redeem_refused|未兑换 请选择 V升数 A金额 F加满|Not redeemed - V litres A amount F fill
rewards_unavailable|积分暂不可用 请选择预置|Rewards unavailable - V litres A amount F fill
thank_you|谢谢惠顾|Thank you
cancelled|交易已取消 请取卡|Cancelled - take your card
timed_out|操作超时 请取卡|Timed out - take your card
card_removed|卡已拔出|Card removed
card_escaped|卡已拔出 灰卡 请插回补扣|Card removed - reinsert to pay
card_error|读卡错误 请取卡|Card error - take your card
card_blocked|卡已止付|Card blocked
card_expired|卡已过期|Card expired
card_not_valid_yet|卡未启用|Card not yet valid
card_hotlisted|黑名单卡|Card refused (hotlist)
card_grey_elsewhere|灰卡 请到原油站处理|Card locked at another pump
card_unknown|非本系统卡|Card not accepted
grade_not_allowed|此卡不能加此油品|Grade not allowed for this card
daily_limit|已达当日限额|Daily limit reached
low_balance|余额不足|Balance too low
bad_discount|卡折扣无效 请到营业厅|Card discount invalid
pin_blocked|密码已锁 请到营业厅|PIN blocked - card locked
enter_staff|请输入员工密码|Staff password, E to confirm
wrong_staff|员工密码错误|Wrong staff password
staff_blocked|员工密码已锁|Staff password blocked
enter_odometer|请输入里程 公里|Odometer km, E to confirm
odometer_bad|里程数不合理 请重输|Odometer not plausible - again
odometer_refused|里程数错误 交易取消|Odometer refused - take your card
fleet_window|此卡当前时段不能加油|Not allowed at this time
fleet_month|已达当月限额|Monthly limit reached
load_offer|有待圈存金额 确认E圈存 C跳过|Load waiting: E to load, C to skip
loading|圈存中 请勿拔卡|Loading card - do not remove
load_failed|圈存未完成 继续加油|Load not done - choose preset
CARD|卡交易中断|Card sale interrupted
REMOTE|油站已停止加油|Stopped by the station
suspended|暂停加油 请稍候|Pump suspended by the station
clock|时钟未校准 暂停刷卡|Clock not set - no card sales
CAP|已到预置量|Preset reached
NOZZLE|已挂枪|Nozzle hung up
NO_FLOW|无流量超时|No flow - timed out
NO_PULSE|流量中断超时|Flow stopped - timed out
PULSER|计量器故障|Meter fault
UNAUTHORIZED|未授权流量|Unauthorised flow
VALVE_STUCK|阀门故障|Valve fault
CANCEL|已取消|Cancelled
POWER|断电结算|Settled after power loss
LAPSED|授权已过期 全额退款|Expired - paid back in full
"""


def _find(key):
    start = _TEXT.find("\n" + key + "|")
    if start < 0:
        raise KeyError(key)
    end = _TEXT.find("\n", start + 1)
    _key, zh, en = _TEXT[start + 1:end].split("|")
    return zh, en


def keys():
    """Every message key (for tests: each has both languages)."""
    return [line.split("|")[0] for line in _TEXT.split("\n") if line and line[0] != "#"]


def both(key):
    zh, en = _find(key)
    return zh + " " + en


def lines(key):
    """The two display lines of a message: Chinese, then English."""
    zh, en = _find(key)
    return [zh, en]
