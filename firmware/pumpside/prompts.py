"""Customer messages in Chinese and English; the display shows both."""

MSG = {
    "ready": ("请选择预置", "Preset: V litres A amount F fill"),
    "enter_volume": ("请输入升数", "Enter litres, E to confirm"),
    "enter_amount": ("请输入金额", "Enter amount, E to confirm"),
    "lift": ("请提枪加油", "Lift the nozzle"),
    "fuelling": ("加油中", "Fuelling"),
    "done": ("加油完毕 谢谢", "Sale complete, thank you"),
    "stopped": ("加油已停止", "Fuelling stopped"),
    "locked": ("油枪已锁定 请联系维护", "Pump locked - call service"),
    "closed": ("暂停服务", "Pump closed"),
    "service_pin": ("请输入维护密码", "Service PIN, E to confirm"),
    "wrong_pin": ("密码错误", "Wrong PIN"),
    "unlocked": ("油枪已解锁", "Pump unlocked"),
    "refused": ("预置无效", "Preset refused"),
    "last_sale": ("上笔交易", "Last sale"),
    "power": ("电源故障", "Power failure"),
    "offline_count": ("未上传交易过多 暂停加油", "Offline sales limit - sync needed"),
    "offline_amount": ("未上传金额过大 暂停加油", "Offline amount limit - sync needed"),
    "offline_age": ("交易过久未上传 暂停加油", "Offline too long - sync needed"),
    "storage_full": ("存储将满 暂停加油", "Storage full - sync needed"),
    "CAP": ("已到预置量", "Preset reached"),
    "NOZZLE": ("已挂枪", "Nozzle hung up"),
    "NO_FLOW": ("无流量超时", "No flow - timed out"),
    "NO_PULSE": ("流量中断超时", "Flow stopped - timed out"),
    "PULSER": ("计量器故障", "Meter fault"),
    "UNAUTHORIZED": ("未授权流量", "Unauthorised flow"),
    "VALVE_STUCK": ("阀门故障", "Valve fault"),
    "CANCEL": ("已取消", "Cancelled"),
    "POWER": ("断电结算", "Settled after power loss"),
}


def both(key):
    zh, en = MSG[key]
    return zh + " " + en


def lines(key):
    """The two display lines of a message: Chinese, then English."""
    zh, en = MSG[key]
    return [zh, en]
